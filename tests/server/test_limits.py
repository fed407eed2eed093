"""Limits that keep a hostile client from exhausting the server, each with a clear 4xx.

What the stack bounds by itself, and what this server adds:

- request bodies: at most 64 KiB, counted as they stream in, so a chunked body without
  Content-Length is cut off too (413);
- the request line and headers: h11 closes the connection with a 400 once an incomplete head
  passes 16 KiB (``desk serve`` runs uvicorn with h11 for this);
- JSON nesting, number length and form fields: 422 (tests/server/test_rejections.py);
- field lengths: username 3 to 32 characters, email at most 254, password at most 72 bytes;
- page sizes: at most 200 (tests/server/test_rejections.py);
- open offers per trader: ``DESK_MAX_OPEN_OFFERS``, 409 ``limit_exceeded``;
- failed logins: tests/server/test_login_throttle.py.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from contextlib import suppress

import httpx
import pytest

from tests.server.conftest import Account, register_and_login
from tests.serving import HOST, ServerProcess
from tests.support import PASSWORD, unique_name

OFFER = {"from_token": "OpenAI", "to_token": "Anthropic", "amount": "10",
         "exchange_rate": "0.8"}
BODY_LIMIT = 64 * 1024


def chunks(payload: bytes, size: int = 4096) -> Iterator[bytes]:
    """Yield ``payload`` in pieces, so that httpx sends it chunked, without Content-Length."""
    for start in range(0, len(payload), size):
        yield payload[start:start + size]


def raw_exchange(server: ServerProcess, request: bytes) -> bytes:
    """Send raw bytes to the server; return what it sent back before closing, if anything.

    The request should ask for ``Connection: close``, so that the server closes the
    connection after its response.
    """
    with socket.create_connection((HOST, server.port), timeout=60) as connection:
        # The server may close the connection before the whole request is sent.
        with suppress(OSError):
            connection.sendall(request)
        received = b""
        with suppress(ConnectionResetError):
            while data := connection.recv(65536):
                received += data
    return received


def assert_healthy(http: httpx.Client) -> None:
    assert http.get("/api/health").status_code == 200


@pytest.mark.parametrize("path", ["/api/trades/create", "/api/auth/login",
                                  "/api/auth/register", "/api/market/convert"])
def test_chunked_body_over_limit(path: str, http: httpx.Client,
                                 account: Callable[[], Account]) -> None:
    trader = account()
    payload = json.dumps({"padding": "x" * (BODY_LIMIT + 1)}).encode()
    response = http.post(path, content=chunks(payload), headers={
        **trader.headers, "Content-Type": "application/json"})

    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413
    assert response.json() == {"detail": f"the request body is larger than {BODY_LIMIT} bytes",
                               "code": "too_large"}


def test_chunked_body_within_limit(http: httpx.Client, account: Callable[[], Account]) -> None:
    trader = account()
    response = http.post("/api/trades/create", content=chunks(json.dumps(OFFER).encode(), 8),
                         headers={**trader.headers, "Content-Type": "application/json"})
    assert response.status_code == 201, response.text


def test_declared_length_over_limit(server: ServerProcess, http: httpx.Client) -> None:
    head = (f"POST /api/auth/login HTTP/1.1\r\nHost: {HOST}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {BODY_LIMIT + 1}\r\nConnection: close\r\n\r\n").encode()
    # Only the head is sent: the server responds from Content-Length without reading on.
    reply = raw_exchange(server, head)
    assert reply.startswith(b"HTTP/1.1 413 ")
    assert_healthy(http)


@pytest.mark.parametrize("headers", [
    b"X-Big: " + b"a" * (1024 * 1024) + b"\r\n",
    b"".join(b"X-Header-%d: value\r\n" % index for index in range(50_000)),
], ids=["one-1-MiB-header", "50000-headers"])
def test_oversized_head_rejected(headers: bytes, server: ServerProcess,
                                 http: httpx.Client) -> None:
    request = (b"GET /api/market/prices HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
               + headers + b"\r\n")
    reply = raw_exchange(server, request)
    assert not reply.startswith(b"HTTP/1.1 200")
    assert reply == b"" or reply.startswith(b"HTTP/1.1 400 ")
    assert_healthy(http)


def test_long_query_string_rejected(server: ServerProcess, http: httpx.Client,
                                    account: Callable[[], Account]) -> None:
    trader = account()
    long_cursor = http.get("/api/trades/list", params={"cursor": "c" * 8000},
                           headers=trader.headers)
    assert long_cursor.status_code == 422
    assert long_cursor.json()["field"] == "cursor"

    request = (b"GET /api/trades/list?cursor=" + b"c" * (1024 * 1024)
               + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    reply = raw_exchange(server, request)
    assert reply == b"" or reply.startswith(b"HTTP/1.1 400 ")
    assert_healthy(http)


@pytest.mark.parametrize("path", ["/api/auth/register", "/api/auth/login",
                                  "/api/market/convert", "/api/trades/execute"])
def test_deep_nesting_is_422(path: str, http: httpx.Client,
                             account: Callable[[], Account]) -> None:
    trader = account()
    response = http.post(path, content=b"[" * 20000 + b"]" * 20000,
                         headers={**trader.headers, "Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_input"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("username", "u" * 33, "must be 3 to 32 characters"),
    ("email", "e" * 245 + "@example.com", "at most 254 characters"),
    ("password", "p" * 73, "at most 72 bytes in UTF-8, got 73 bytes"),
    ("password", "\u00e9" * 37, "at most 72 bytes in UTF-8, got 74 bytes"),
])
def test_register_field_lengths(field: str, value: str, message: str,
                                http: httpx.Client) -> None:
    name = unique_name()
    body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD,
            field: value}
    response = http.post("/api/auth/register", json=body)
    assert response.status_code == 422
    assert response.json()["field"] == field
    assert message in response.json()["detail"]


def test_login_username_length(http: httpx.Client) -> None:
    response = http.post("/api/auth/login", json={"username": "u" * 33, "password": PASSWORD})
    assert response.status_code == 422
    assert response.json()["field"] == "username"
    assert "at most 32 characters" in response.json()["detail"]


@pytest.fixture(scope="module")
def small_book_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("limits"),
                           environment={"DESK_MAX_OPEN_OFFERS": "2"})
    server.start()
    yield server
    server.stop()


def test_open_offer_limit_is_409(small_book_server: ServerProcess) -> None:
    with httpx.Client(base_url=small_book_server.url) as client:
        trader = register_and_login(client)
        statuses = [client.post("/api/trades/create", json=OFFER,
                                headers=trader.headers).status_code for _ in range(3)]
        third = client.post("/api/trades/create", json=OFFER, headers=trader.headers)

    assert statuses == [201, 201, 409]
    assert third.json() == {
        "detail": "you have 2 open offers, the maximum of 2 per trader; cancel one or wait "
                  "until one is taken before posting another",
        "code": "limit_exceeded"}
