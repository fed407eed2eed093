"""Fixtures of the HTTP-level tests: a client of the module's server and fresh accounts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.serving import ServerProcess
from tests.support import PASSWORD, unique_name


@dataclass(frozen=True)
class Account:
    """A registered trader and the headers that authenticate its requests."""

    id: int
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    """Return an httpx client of the module's server."""
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        yield client


def register_and_login(http: httpx.Client, prefix: str = "trader") -> Account:
    name = unique_name(prefix)
    created = http.post("/api/auth/register",
                        json={"username": name, "email": f"{name}@example.com",
                              "password": PASSWORD})
    assert created.status_code == 201, created.text
    session = http.post("/api/auth/login", json={"username": name, "password": PASSWORD})
    assert session.status_code == 200, session.text
    return Account(id=created.json()["id"], username=name, token=session.json()["access_token"])


@pytest.fixture
def account(http: httpx.Client) -> Callable[[], Account]:
    """Return a factory of newly registered, logged-in traders."""
    return lambda: register_and_login(http)


def create_offer(http: httpx.Client, owner: Account, **fields: Any) -> dict[str, Any]:
    """Post an offer of 10 OpenAI at 0.8 Anthropic each, with ``fields`` changed."""
    body = {"from_token": "OpenAI", "to_token": "Anthropic", "amount": "10",
            "exchange_rate": "0.8", **fields}
    response = http.post("/api/trades/create", json=body, headers=owner.headers)
    assert response.status_code == 201, response.text
    offer: dict[str, Any] = response.json()
    return offer


@pytest.fixture
def database_kind() -> str:
    """The HTTP-level tests run on a SQLite server; the contract suite covers PostgreSQL."""
    return "sqlite"
