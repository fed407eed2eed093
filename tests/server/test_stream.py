"""The live stream of a real ``desk serve``: protocol, authentication, slow and lost clients."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from sqlalchemy.engine import make_url
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from desk.backend.coordination import CHANNEL
from desk.backend.events import BalanceEvent, PriceEvent
from desk.backend.remote import HttpBackend
from desk.backend.stream import CatchUp, StreamState
from desk.backend.stream_protocol import (
    CLOSE_SERVICE_RESTART,
    CLOSE_TOO_SLOW,
    CLOSE_UNAUTHENTICATED,
)
from desk.backend.websocket_stream import WebSocketEventStream, stream_url
from tests.conftest import SERVER_LOG
from tests.postgres import PostgresServer
from tests.server.conftest import Account, create_offer, register_and_login
from tests.serving import SERVER_SECRET, ServerProcess
from tests.streams import DEADLINE, Recorder
from tests.support import PASSWORD, unique_name

AUTH_TIMEOUT_SECONDS = 1


@pytest.fixture(scope="module")
def stream_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose prices stay still and that waits one second for the auth message."""
    server = ServerProcess(tmp_path_factory.mktemp("stream"),
                           environment={"DESK_WS_AUTH_TIMEOUT_SECONDS":
                                        str(AUTH_TIMEOUT_SECONDS)})
    server.start()
    yield server
    server.stop()


@pytest.fixture
def server(stream_server: ServerProcess, request: pytest.FixtureRequest) -> ServerProcess:
    request.node.stash[SERVER_LOG] = (stream_server, stream_server.log_size())
    return stream_server


@pytest.fixture
def desk(server: ServerProcess) -> Iterator[Callable[[], HttpBackend]]:
    """Return a factory of new traders logged in through ``HttpBackend``."""
    opened: list[HttpBackend] = []

    def factory() -> HttpBackend:
        backend = HttpBackend(server.url)
        opened.append(backend)
        name = unique_name("streamer")
        backend.register(name, f"{name}@example.com", PASSWORD)
        backend.login(name, PASSWORD)
        return backend

    yield factory
    for backend in opened:
        backend.close()


@contextmanager
def open_socket(server: ServerProcess, first_message: str | bytes | None,
                **options: Any) -> Iterator[ClientConnection]:
    """Connect to the server's stream and send ``first_message``, if any."""
    with connect(stream_url(server.url), open_timeout=DEADLINE, **options) as websocket:
        if first_message is not None:
            websocket.send(first_message)
        yield websocket


def close_of(websocket: ClientConnection) -> tuple[int, str]:
    """Read until the server closes the connection; return its close code and reason."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            websocket.recv(timeout=DEADLINE)
    frame = closed.value.rcvd
    assert frame is not None, "the connection dropped without a close frame"
    return frame.code, frame.reason


def auth(token: str) -> str:
    return json.dumps({"type": "auth", "token": token})


def signed_token(user_id: int, expires_in: timedelta) -> str:
    expires = datetime.now(UTC) + expires_in
    return jwt.encode({"sub": str(user_id), "exp": expires}, SERVER_SECRET, algorithm="HS256")


def test_stream_starts_with_snapshot(desk: Callable[[], HttpBackend]) -> None:
    alice = desk()
    recorder = Recorder(alice.events())

    catch_up = recorder.next_item(lambda item: True)
    prices = recorder.next_item(lambda item: True)
    balances = recorder.next_item(lambda item: True)
    assert catch_up == CatchUp(reconnected=False)
    assert isinstance(prices, PriceEvent)
    assert prices.prices == alice.prices()
    assert isinstance(balances, BalanceEvent)
    assert balances.user_id == alice.user_id
    assert balances.balances == alice.balances().balances
    assert alice.events().state is StreamState.CONNECTED


def test_messages_are_json_with_type(server: ServerProcess, account: Callable[[], Account],
                                     http: httpx.Client) -> None:
    alice, bob = account(), account()
    with open_socket(server, auth(bob.token)) as websocket:
        hello = json.loads(websocket.recv(timeout=DEADLINE))
        offer = create_offer(http, alice, amount="12.5")
        message = json.loads(websocket.recv(timeout=DEADLINE))

    assert hello["type"] == "hello"
    assert hello["user_id"] == bob.id
    assert hello["feed_interval_seconds"] == 3600
    assert {price["token_type"] for price in hello["prices"]} >= {"OpenAI", "BTC"}
    assert message["type"] == "trade"
    assert message["action"] == "created"
    assert message["trade"]["id"] == offer["id"]
    assert message["trade"]["amount"] == "12.500000"


@pytest.mark.parametrize(("first_message", "reason"), [
    (auth("not-a-token"), "invalid session token; log in again"),
    (auth(""), "not logged in"),
    ('{"type": "hello"}', 'expected {"type": "auth", "token": "<session token>"} first'),
    ("not json", 'expected {"type": "auth", "token": "<session token>"} first'),
    (b"\x00binary", 'expected {"type": "auth", "token": "<session token>"} first'),
    (None, f"no auth message within {AUTH_TIMEOUT_SECONDS} s"),
], ids=["invalid", "empty", "wrong-type", "not-json", "binary", "silent"])
def test_bad_auth_closed_with_4401(server: ServerProcess, first_message: str | bytes | None,
                                   reason: str) -> None:
    with open_socket(server, first_message) as websocket:
        code, sent_reason = close_of(websocket)
    assert code == CLOSE_UNAUTHENTICATED
    assert sent_reason == reason


def test_expired_token_closed_with_4401(server: ServerProcess,
                                        account: Callable[[], Account]) -> None:
    alice = account()
    expired = signed_token(alice.id, timedelta(minutes=-1))
    with open_socket(server, auth(expired)) as websocket:
        code, reason = close_of(websocket)
    assert code == CLOSE_UNAUTHENTICATED
    assert reason == "session expired; log in again"


def test_session_expiry_ends_stream(server: ServerProcess,
                                    account: Callable[[], Account]) -> None:
    alice = account()
    short_lived = signed_token(alice.id, timedelta(seconds=3))
    with open_socket(server, auth(short_lived)) as websocket:
        hello = json.loads(websocket.recv(timeout=DEADLINE))
        code, reason = close_of(websocket)

    assert hello["user_id"] == alice.id
    assert code == CLOSE_UNAUTHENTICATED
    assert reason == "session expired; log in again"


def test_client_stops_on_rejected_token(server: ServerProcess) -> None:
    stream = WebSocketEventStream(server.url, "not-a-token")
    recorder = Recorder(stream)
    try:
        recorder.wait_for_state(StreamState.CLOSED)
        assert stream.detail == "invalid session token; log in again"
        assert recorder.drain() == []
    finally:
        stream.close()


def test_log_names_user_not_token(server: ServerProcess,
                                  account: Callable[[], Account]) -> None:
    alice = account()
    start = server.log_size()
    with open_socket(server, auth(alice.token)) as websocket:
        websocket.recv(timeout=DEADLINE)
    server.wait_for_log(re.escape(f"stream closed for user {alice.id} "), start=start)

    log = server.log_text(start)
    assert f"stream opened for user {alice.id} from 127.0.0.1:" in log
    assert alice.token not in log


@pytest.fixture
def postgres_server(tmp_path: Path, postgres: PostgresServer,
                    postgres_template: str) -> Iterator[ServerProcess]:
    """A server on PostgreSQL that queues at most 8 events per client."""
    url = postgres.create(template=postgres_template)
    server = ServerProcess(tmp_path, database_url=url,
                           environment={"DESK_WS_QUEUE_LIMIT": "8"})
    try:
        server.start()
        yield server
    finally:
        server.stop()
        postgres.drop(url)


# Events in the burst: more than the server's kernel send buffer (up to 4 MiB with Linux's
# default net.ipv4.tcp_wmem) and uvicorn's write buffer can take, at about 900 bytes each.
BURST = 12_000


def test_slow_client_disconnected(postgres_server: ServerProcess) -> None:
    server = postgres_server
    with httpx.Client(base_url=server.url) as http:
        reader = register_and_login(http)
        prices = http.get("/api/market/prices").json()
    start = server.log_size()
    # A small receive buffer, and a client that stops reading after the hello, make the
    # burst pile up in the server's buffers and then in its queue for this client.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    with open_socket(server, auth(reader.token), sock=sock, max_queue=1) as websocket:
        assert json.loads(websocket.recv(timeout=DEADLINE))["type"] == "hello"
        notify_ticks(server.database_url, prices, BURST)
        server.wait_for_log("too slow", start=start)
        code, reason = close_of(websocket)

    log = server.log_text(start)
    assert f"of user {reader.id} is too slow: more than 8 events were waiting" in log
    assert code == CLOSE_TOO_SLOW
    assert reason == "too slow: more than 8 events were waiting"
    server.wait_for_log(re.escape(f"stream closed for user {reader.id} "), start=start)
    assert httpx.get(f"{server.url}/api/health").status_code == 200


def notify_ticks(database_url: str, prices: list[dict[str, Any]], count: int) -> None:
    """Send ``count`` price ticks through NOTIFY, as another server's relay would.

    Each payload names a different origin, because PostgreSQL delivers identical
    notifications of one transaction only once.
    """
    event = json.dumps({"origin": "__origin__", "event": {"type": "price", "prices": prices}})
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(
        hide_password=False)
    with psycopg.connect(dsn) as connection:
        connection.execute(
            "SELECT pg_notify(%s, replace(%s, '__origin__', 'test-' || n))"
            " FROM generate_series(1, %s) AS n", (CHANNEL, event, count))


@pytest.fixture(scope="module")
def fast_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose price feed ticks every 50 ms."""
    server = ServerProcess(tmp_path_factory.mktemp("fast"),
                           environment={"DESK_FEED_INTERVAL_SECONDS": "0.05"})
    server.start()
    yield server
    server.stop()


def test_stale_while_server_paused(fast_server: ServerProcess) -> None:
    backend = HttpBackend(fast_server.url)
    name = unique_name("watcher")
    backend.register(name, f"{name}@example.com", PASSWORD)
    backend.login(name, PASSWORD)
    recorder = Recorder(backend.events())
    try:
        recorder.wait_for_state(StreamState.CONNECTED)
        fast_server.pause()
        try:
            recorder.wait_for_state(StreamState.STALE)
        finally:
            fast_server.resume()
        recorder.wait_for_state(StreamState.CONNECTED)
        recorder.drain()
        assert isinstance(recorder.next_of(PriceEvent), PriceEvent)
    finally:
        backend.close()


def test_client_reconnects_after_restart(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path)
    server.start()
    alice, bob = HttpBackend(server.url), HttpBackend(server.url)
    try:
        for backend in (alice, bob):
            name = unique_name("restart")
            backend.register(name, f"{name}@example.com", PASSWORD)
            backend.login(name, PASSWORD)
        recorder = Recorder(bob.events())
        assert recorder.next_of(CatchUp) == CatchUp(reconnected=False)

        server.stop()
        recorder.wait_for_state(StreamState.RECONNECTING)
        server.restart()
        assert recorder.next_of(CatchUp) == CatchUp(reconnected=True)
        assert bob.events().state is StreamState.CONNECTED

        offer = alice.create_offer("Google", "Mistral", "3", "1.5")
        assert recorder.trade("created", offer.id).trade == offer
        log = server.log_text()
        assert f"stream opened for user {bob.user_id}" in log
    finally:
        alice.close()
        bob.close()
        server.stop()


def test_retry_now_ends_backoff_wait(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path)
    server.start()
    bob = HttpBackend(server.url)
    name = unique_name("retry")
    bob.register(name, f"{name}@example.com", PASSWORD)
    session = bob.login(name, PASSWORD)
    # Without retry_now, the first reconnection would wait half an hour or more.
    stream = WebSocketEventStream(server.url, session.access_token, initial_delay=3600,
                                  max_delay=3600)
    try:
        recorder = Recorder(stream)
        assert recorder.next_of(CatchUp) == CatchUp(reconnected=False)

        server.stop()
        recorder.wait_for_state(StreamState.RECONNECTING)
        server.restart()
        stream.retry_now()

        assert recorder.next_of(CatchUp) == CatchUp(reconnected=True)
        assert stream.state is StreamState.CONNECTED
    finally:
        stream.close()
        bob.close()
        server.stop()


def test_server_stop_closes_with_1012(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path)
    server.start()
    try:
        with httpx.Client(base_url=server.url) as http:
            alice = register_and_login(http)
        with open_socket(server, auth(alice.token)) as websocket:
            websocket.recv(timeout=DEADLINE)
            server.stop()
            code, _reason = close_of(websocket)
        assert code == CLOSE_SERVICE_RESTART
    finally:
        server.stop()

