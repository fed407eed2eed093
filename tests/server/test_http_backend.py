"""HttpBackend error mapping: unreachable servers and responses that are not the desk API.

A server that is down is a free port with nothing listening. The responses of a broken
proxy or a foreign server come from a small standard-library HTTP server on loopback.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from desk.backend import Conflict, DeskError, InvalidInput, NotFound, Unavailable
from desk.backend.remote import HttpBackend
from tests.serving import HOST, free_port

# Canned responses of the stand-in server: path -> (status, content type, body).
CANNED = {
    "/api/market/prices": (502, "text/html", b"<html><body>Bad Gateway</body></html>"),
    "/api/tokens/types": (200, "application/json", b'{"unexpected": true}'),
    "/api/market/history": (500, "application/json", b'{"detail": "boom"}'),
    "/api/trades/list": (404, "text/html", b"<h1>Not Found</h1>"),
    "/api/trades/history": (409, "application/json", b'{"detail": "busy"}'),
}
SLOW_PATH = "/api/user/balance"


class StandInHandler(BaseHTTPRequestHandler):
    release: threading.Event

    def do_GET(self) -> None:  # noqa: N802 (the name http.server dispatches to)
        path = self.path.split("?")[0]
        if path == SLOW_PATH:
            self.release.wait()
            return
        status, content_type, body = CANNED[path]
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def stand_in() -> Iterator[str]:
    """Run the stand-in server; return its URL."""
    release = threading.Event()
    handler = type("Handler", (StandInHandler,), {"release": release})
    httpd = ThreadingHTTPServer((HOST, 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield f"http://{HOST}:{httpd.server_address[1]}"
    release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_server_down_is_unavailable() -> None:
    url = f"http://{HOST}:{free_port()}"
    backend = HttpBackend(url)
    for call in (backend.prices, lambda: backend.login("demo", "demo123"),
                 lambda: backend.create_offer("OpenAI", "BTC", "1", "1")):
        with pytest.raises(Unavailable) as caught:
            call()
        assert f"cannot reach server at {url}" in str(caught.value)
    backend.close()


def test_invalid_server_url() -> None:
    with pytest.raises(InvalidInput) as caught:
        HttpBackend("127.0.0.1:8000")
    assert caught.value.field == "server_url"


def test_bad_gateway_html(stand_in: str) -> None:
    with HttpBackendClosing(stand_in) as backend, pytest.raises(DeskError) as caught:
        backend.prices()
    assert type(caught.value) is DeskError
    assert str(caught.value) == (f"server at {stand_in} failed on GET /api/market/prices "
                                 "with HTTP 502 Bad Gateway")


def test_server_error_without_code(stand_in: str) -> None:
    with HttpBackendClosing(stand_in) as backend, pytest.raises(DeskError) as caught:
        backend.price_history("OpenAI")
    assert str(caught.value) == (f"server at {stand_in} failed on GET /api/market/history "
                                 "with HTTP 500 Internal Server Error: boom")


def test_invalid_success_body(stand_in: str) -> None:
    with HttpBackendClosing(stand_in) as backend, pytest.raises(DeskError) as caught:
        backend.token_types()
    assert "invalid response" in str(caught.value)


def test_status_without_code(stand_in: str) -> None:
    with HttpBackendClosing(stand_in) as backend:
        with pytest.raises(NotFound) as not_found:
            backend.list_offers()
        with pytest.raises(Conflict) as conflict:
            backend.history()
    assert str(not_found.value) == f"HTTP 404 Not Found from GET {stand_in}/api/trades/list"
    assert str(conflict.value) == "busy"


def test_timeout_is_unavailable(stand_in: str) -> None:
    with HttpBackendClosing(stand_in, timeout=0.2) as backend, \
            pytest.raises(Unavailable) as caught:
        backend.balances()
    assert f"cannot reach server at {stand_in}" in str(caught.value)
    assert "timed out" in str(caught.value)


@pytest.mark.parametrize("amount", [0.1, True, None, Decimal("NaN")],
                         ids=["float", "bool", "none", "nan"])
def test_inexact_amount_rejected_before_sending(amount: object) -> None:
    # Nothing listens at this address, so a request that went out would raise Unavailable.
    backend = HttpBackend(f"http://{HOST}:{free_port()}")
    with pytest.raises(InvalidInput) as caught:
        backend.create_offer("OpenAI", "BTC", amount, "1")  # type: ignore[arg-type]
    assert caught.value.field == "amount"
    backend.close()


class HttpBackendClosing(HttpBackend):
    """An HttpBackend that closes when its ``with`` block ends."""

    def __enter__(self) -> HttpBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
