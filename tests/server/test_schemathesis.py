"""Property-based tests of the server against its own OpenAPI document (schemathesis).

Schemathesis sends every operation its documented examples, the boundary cases of its schema
(the coverage phase) and random valid and invalid requests (the fuzzing phase). It checks that
the server never fails with a 5xx, and that every response has a status code, content type,
headers and body that the document declares. The random cases are bounded so that the whole
suite stays fast on a CI machine with two cores.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from schemathesis import Case

from tests.server.conftest import register_and_login
from tests.serving import ServerProcess

# Random cases per operation in the fuzzing phase.
MAX_EXAMPLES = 25

CHECKS = {
    "not_a_server_error": {"enabled": True},
    "status_code_conformance": {"enabled": True},
    "content_type_conformance": {"enabled": True},
    "response_schema_conformance": {"enabled": True},
    "response_headers_conformance": {"enabled": True},
}


@pytest.fixture(scope="module")
def api_schema(server_process: ServerProcess) -> schemathesis.BaseSchema:
    config = schemathesis.Config.from_dict({
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True,
                       "database": "none"},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True},
                   "fuzzing": {"enabled": True}, "stateful": {"enabled": False}},
        "checks": {"enabled": False, **CHECKS},
    })
    return schemathesis.openapi.from_url(f"{server_process.url}/openapi.json", config=config)


@pytest.fixture(scope="module")
def bearer(server_process: ServerProcess) -> dict[str, str]:
    """Return the Authorization header of a trader, so that protected operations run too."""
    with httpx.Client(base_url=server_process.url) as client:
        return register_and_login(client, "fuzzer").headers


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_api_matches_its_schema(case: Case, bearer: dict[str, str], server: ServerProcess,
                                ) -> None:
    case.call_and_validate(headers=bearer)
