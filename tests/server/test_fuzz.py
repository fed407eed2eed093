"""Fuzzing every endpoint of a real server with hypothesis: no 5xx, and the audit passes after.

Each POST endpoint gets arbitrary JSON documents and objects with its own field names. Their
values are arbitrary or plausible, so that some requests reach the market and move money.
Some requests come as forms, with odd content types or idempotency keys, or without a
session. The GET endpoints get arbitrary query parameters. Every response must be below 500,
and every error but uvicorn's own 400 must have the JSON body of the API. After each POST
endpoint's run, ``desk audit`` must pass on the server's database.

tests/server/test_schemathesis.py fuzzes the server from its OpenAPI document instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desk.backend.money import ASSETS
from tests.server.conftest import Account, register_and_login
from tests.serving import ServerProcess, server_environment

# Requests per endpoint. Each takes a few milliseconds; the module took 40 s in one process
# on a shared 2-core machine.
EXAMPLES = 120

FIELDS = {
    "/api/auth/register": ("username", "email", "password"),
    "/api/auth/login": ("username", "password"),
    "/api/trades/create": ("from_token", "to_token", "amount", "exchange_rate"),
    "/api/trades/execute": ("trade_id",),
    "/api/trades/cancel": ("trade_id",),
    "/api/market/convert": ("from_token", "to_token", "amount"),
}
GET_PARAMETERS = {
    "/api/trades/list": ("from_token", "to_token", "mine", "limit", "cursor"),
    "/api/trades/history": ("limit", "cursor"),
    "/api/user/ledger": ("limit", "cursor"),
    "/api/user/balance": (),
    "/api/market/history": ("token_type", "limit"),
    "/api/market/prices": (),
    "/api/tokens/types": (),
    "/api/health": (),
}

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.decimals(allow_nan=False, allow_infinity=False, places=None).map(str),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
# Values that the market may accept, so that fuzzed requests also trade.
plausible = st.one_of(
    st.sampled_from(ASSETS),
    st.sampled_from(["0.5", "1", "2.25", "10", "0.00001", "1e1", "100", "0.8"]),
    st.integers(min_value=-5, max_value=40),
    st.decimals(min_value=Decimal("-1"), max_value=Decimal("1000"), places=6,
                allow_nan=False).map(str),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-_@", min_size=1, max_size=40),
)
# Header values as bytes: Latin-1 text without line breaks or surrounding blanks, which
# HTTP does not allow in a header value (and h11, under httpx, refuses to send).
keys = st.one_of(
    st.none(), st.uuids().map(str).map(str.encode),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=30).map(
        lambda text: text.strip().encode("latin-1")),
    st.sampled_from([b"reused-key", b"", b"k" * 201]),
)


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=3, max_size=12)
amounts = st.sampled_from(["1", "2.5", "0.001", "10", "0.00000001", 3, "1E+1"])
VALID: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "/api/auth/register": st.builds(
        lambda name, password: {"username": f"f{name}", "email": f"f{name}@example.com",
                                "password": password},
        names, st.text(min_size=6, max_size=20)),
    "/api/auth/login": st.fixed_dictionaries({
        "username": st.sampled_from(["fuzzer", "demo"]) | names,
        "password": st.sampled_from(["demo123", "wrong-password"])}),
    "/api/trades/create": st.fixed_dictionaries({
        "from_token": st.sampled_from(ASSETS), "to_token": st.sampled_from(ASSETS),
        "amount": amounts, "exchange_rate": st.sampled_from(["0.5", "1", "2", 1, "0.01"])}),
    "/api/trades/execute": st.fixed_dictionaries({"trade_id": st.integers(1, 45)}),
    "/api/trades/cancel": st.fixed_dictionaries({"trade_id": st.integers(1, 45)}),
    "/api/market/convert": st.fixed_dictionaries({
        "from_token": st.sampled_from(ASSETS), "to_token": st.sampled_from(ASSETS),
        "amount": amounts}),
}
"""Bodies that the market accepts more often than not, so that fuzzing also moves money."""


def fields_object(path: str) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with some of the endpoint's fields, each valid-looking or arbitrary."""
    names = FIELDS[path]
    return st.fixed_dictionaries(
        {}, optional={name: st.one_of(plausible, json_values) for name in names}
    ) | st.dictionaries(st.sampled_from([*names, "extra"]), json_values, max_size=5)


@st.composite
def post_requests(draw: st.DrawFn, path: str) -> dict[str, Any]:
    """Draw one request to ``path``: content, content type, key and whether to authorize."""
    body = draw(st.one_of(VALID[path], fields_object(path), json_values))
    # Hypothesis leans to the first of sampled values: most bodies are JSON, most requests
    # carry the session and a valid key or none.
    form = draw(st.sampled_from([False] * 4 + [True])) and isinstance(body, dict)
    if form:
        content = "&".join(f"{name}={value}" for name, value in body.items()).encode(
            "utf-8", "surrogatepass")
        content_type = "application/x-www-form-urlencoded"
    else:
        content = json.dumps(body, default=str).encode("utf-8", "surrogatepass")
        content_type = draw(st.sampled_from(["application/json"] * 4
                                            + ["text/plain", "application/vnd.api+json"]))
    authorized = draw(st.sampled_from([True] * 9 + [False]))
    key = draw(st.sampled_from(["none", "none", "uuid", "uuid", "any"]))
    header = {"none": None, "uuid": draw(st.uuids()).hex.encode(), "any": draw(keys)}[key]
    return {"content": content, "content_type": content_type, "key": header,
            "authorized": authorized}


def audit_server(server: ServerProcess, folder: Path) -> None:
    """Run ``desk audit`` on the server's database; fail unless every check passes."""
    result = subprocess.run(
        [sys.executable, "-m", "desk", "audit", "--db", server.database_url], cwd=folder,
        capture_output=True, text=True, env=server_environment(folder), timeout=120,
        check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def check_response(response: httpx.Response) -> None:
    request = response.request
    where = f"{request.method} {request.url} -> {response.status_code}: {response.text[:300]}"
    assert response.status_code < 500, where
    if response.status_code >= 400 and response.status_code != 400:
        body = response.json()
        assert isinstance(body["detail"], str), where
        assert isinstance(body["code"], str), where


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("fuzz"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(fuzzed_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fuzzed_server.url, timeout=60.0) as http:
        yield http


@pytest.fixture(scope="module")
def fuzzer(client: httpx.Client) -> Account:
    """A trader for the fuzzed requests, facing a book of another trader's offers."""
    maker = register_and_login(client, "maker")
    for index in range(30):
        pair = [ASSETS[index % 5], ASSETS[(index + 1) % 5]]
        response = client.post("/api/trades/create", headers=maker.headers, json={
            "from_token": pair[0], "to_token": pair[1], "amount": "5",
            "exchange_rate": "0.5"})
        assert response.status_code == 201, response.text
    return register_and_login(client, "fuzzer")


FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                HealthCheck.too_slow])


@pytest.mark.slow
@pytest.mark.parametrize("path", list(FIELDS))
def test_post_never_fails_server(path: str, client: httpx.Client, fuzzer: Account,
                                 fuzzed_server: ServerProcess, tmp_path: Path) -> None:
    @FUZZ_SETTINGS
    @given(request=post_requests(path))
    def send(request: dict[str, Any]) -> None:
        headers = {"Content-Type": request["content_type"]}
        if request["authorized"]:
            headers.update(fuzzer.headers)
        if request["key"] is not None:
            headers["Idempotency-Key"] = request["key"]
        response = client.post(path, content=request["content"], headers=headers)
        check_response(response)
        statuses[response.status_code] += 1

    statuses: Counter[int] = Counter()
    send()
    audit_server(fuzzed_server, tmp_path)
    assert sum(statuses.values()) >= EXAMPLES


@pytest.mark.slow
@pytest.mark.parametrize("path", list(GET_PARAMETERS))
def test_get_never_fails_server(path: str, client: httpx.Client, fuzzer: Account) -> None:
    names = GET_PARAMETERS[path] or ("unexpected",)

    @FUZZ_SETTINGS
    @given(params=st.dictionaries(st.sampled_from(names),
                                  st.one_of(plausible.map(str), st.text(max_size=300)),
                                  max_size=len(names)))
    def send(params: dict[str, str]) -> None:
        check_response(client.get(path, params=params, headers=fuzzer.headers))

    send()
