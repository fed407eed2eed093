"""The server's responses when its database fails.

The application runs under uvicorn in a thread of the test process, on a real SQLite file
whose folder the test replaces with a plain file, so that the database cannot be opened.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedError

from desk.backend import Market, MarketConfig
from desk.backend.server import create_app
from desk.backend.stream_protocol import CLOSE_UNAVAILABLE
from desk.backend.websocket_stream import stream_url
from tests.conftest import SECRET
from tests.serving import HOST, STARTUP_DEADLINE_SECONDS, free_port


@pytest.fixture
def broken_server(tmp_path: Path) -> Iterator[str]:
    """Return the URL of a running server whose database folder has become a plain file."""
    folder = tmp_path / "data"
    market = Market.open(f"sqlite:///{folder / 'market.db'}",
                         MarketConfig(secret_key=SECRET, bcrypt_rounds=4))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(market), host=HOST, port=port,
                                           log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://{HOST}:{port}"
    try:
        wait_until_healthy(url, thread)
        # Close the pooled connections, so that the next query must open the file again.
        market.close()
        shutil.rmtree(folder)
        folder.write_text("not a folder")
        yield url
    finally:
        server.should_exit = True
        thread.join()
        market.close()


def wait_until_healthy(url: str, thread: threading.Thread) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        # Wait a little between polls, and notice at once if the server thread ended.
        thread.join(timeout=0.05)
        if not thread.is_alive():
            raise RuntimeError("the server thread ended before it was healthy")
    raise RuntimeError(f"the server was not healthy within {STARTUP_DEADLINE_SECONDS} s")


def test_health_is_503(broken_server: str) -> None:
    response = httpx.get(f"{broken_server}/api/health")
    assert response.status_code == 503
    assert response.json() == {"detail": "the market database does not respond",
                               "code": "unavailable"}


def test_query_failure_is_503(broken_server: str) -> None:
    response = httpx.get(f"{broken_server}/api/market/prices")
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"


def test_stream_closes_with_reason(broken_server: str,
                                   caplog: pytest.LogCaptureFixture) -> None:
    token = jwt.encode({"sub": "2", "exp": datetime.now(UTC) + timedelta(hours=1)}, SECRET,
                       algorithm="HS256")

    async def authenticate() -> ClientConnection:
        async with connect(stream_url(broken_server)) as websocket:
            await websocket.send(json.dumps({"type": "auth", "token": token}))
            with pytest.raises(ConnectionClosedError):
                await websocket.recv()
            return websocket

    closed = asyncio.run(authenticate())

    assert closed.close_code == CLOSE_UNAVAILABLE
    assert closed.close_reason == "the market database is unavailable; try again later"
    assert "Exception in ASGI application" not in caplog.text
