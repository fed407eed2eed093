"""The event stream in process, and the parts of the WebSocket stream that need no server."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
from sqlalchemy import Connection

from desk.backend import Backend, LocalBackend, Market, MarketConfig
from desk.backend.events import BalanceEvent, Event, PriceEvent, ResyncEvent, TradeEvent
from desk.backend.feed import FeedRunner, RandomWalk
from desk.backend.store import PoolOptions
from desk.backend.stream import CatchUp, StreamItem, StreamState
from desk.backend.websocket_stream import WebSocketEventStream, backoff_delay, stream_url
from tests.conftest import SECRET
from tests.streams import Recorder
from tests.support import PASSWORD, Clock


@pytest.fixture
def backend_kind() -> str:
    """These tests use the in-process market's bus, so they trade locally."""
    return "local"


def test_change_survives_failed_publish(db_url: str, clock: Clock) -> None:
    """A committed offer is reported as made even when its balances cannot be read after."""
    # One pooled connection, which a listener keeps once the offer is committed, so reading
    # the creator's balances for the balance event times out.
    pool = PoolOptions(size=1, max_overflow=0, timeout=0.1)
    market = Market.open(db_url, MarketConfig(secret_key=SECRET, bcrypt_rounds=4, clock=clock),
                         pool=pool)
    alice = LocalBackend(market)
    alice.register("alice", "alice@example.com", PASSWORD)
    alice.login("alice", PASSWORD)
    kept: list[Connection] = []
    seen: list[Event] = []

    def keep_connection(event: Event) -> None:
        seen.append(event)
        if isinstance(event, TradeEvent):
            kept.append(market.database.engine.connect())

    market.events.subscribe(keep_connection)
    try:
        offer = alice.create_offer("OpenAI", "Google", "5", "2")
    finally:
        for connection in kept:
            connection.close()

    assert [event.type for event in seen] == ["trade", "resync"]
    assert [trade.id for trade in alice.list_offers(mine=True).trades] == [offer.id]
    market.close()


def test_local_stream_connected_at_once(trader: Callable[[], Backend]) -> None:
    stream = trader().events()
    assert stream.state is StreamState.CONNECTED
    assert stream.detail == ""


def test_local_stream_delivers_events(market: Market, trader: Callable[[], Backend]) -> None:
    alice, bob = trader(), trader()
    seen: list[StreamItem] = []
    bob.events().subscribe(seen.append)

    offer = alice.create_offer("OpenAI", "Google", "5", "2")
    bob.execute_offer(offer.id)
    FeedRunner(market, RandomWalk(seed=1), interval=1).tick()

    kinds = [(item.type, getattr(item, "action", None)) for item in seen]
    assert kinds == [("trade", "created"), ("trade", "executed"), ("balance", None),
                     ("price", None)]
    balance = seen[2]
    assert isinstance(balance, BalanceEvent)
    assert balance.user_id == bob.user_id


def test_unsubscribe_stops_delivery(market: Market, trader: Callable[[], Backend]) -> None:
    alice = trader()
    seen: list[StreamItem] = []
    unsubscribe = alice.events().subscribe(seen.append)
    unsubscribe()
    unsubscribe()  # a second call changes nothing
    FeedRunner(market, RandomWalk(seed=1), interval=1).tick()
    assert seen == []


def test_close_releases_bus(market: Market) -> None:
    backend = LocalBackend(market)
    backend.login("demo", "demo123")
    states: list[StreamState] = []
    stream = backend.events()
    stream.on_state_change(states.append)
    stream.subscribe(lambda item: None)
    assert market.events.has_listeners()

    backend.close()
    assert states == [StreamState.CLOSED]
    assert stream.state is StreamState.CLOSED
    assert not market.events.has_listeners()


def test_resync_becomes_catch_up(market: Market, trader: Callable[[], Backend]) -> None:
    seen: list[StreamItem] = []
    trader().events().subscribe(seen.append)
    market.events.deliver(ResyncEvent())
    assert seen == [CatchUp(reconnected=True)]


def test_failing_listener_is_skipped(market: Market, trader: Callable[[], Backend]) -> None:
    stream = trader().events()
    seen: list[StreamItem] = []

    def broken(item: StreamItem) -> None:
        raise RuntimeError("listener bug")

    stream.subscribe(broken)
    stream.subscribe(seen.append)
    FeedRunner(market, RandomWalk(seed=1), interval=1).tick()
    assert len(seen) == 1
    assert isinstance(seen[0], PriceEvent)


def test_new_login_closes_old_stream(market: Market, trader: Callable[[], Backend]) -> None:
    alice = trader()
    first = alice.events()
    alice.login("demo", "demo123")
    assert first.state is StreamState.CLOSED
    second = alice.events()
    assert second is not first
    assert second.state is StreamState.CONNECTED


@pytest.mark.parametrize(("base_url", "expected"), [
    ("http://127.0.0.1:8000", "ws://127.0.0.1:8000/api/ws"),
    ("https://desk.example.com/", "wss://desk.example.com/api/ws"),
    ("https://example.com/market", "wss://example.com/market/api/ws"),
])
def test_stream_url(base_url: str, expected: str) -> None:
    assert stream_url(base_url) == expected


def test_stream_url_rejects_other_schemes() -> None:
    with pytest.raises(ValueError, match="ftp://example.com"):
        stream_url("ftp://example.com")


def test_backoff_doubles_within_bounds() -> None:
    for attempt in range(12):
        ceiling = min(30.0, 0.5 * 2 ** attempt)
        for _ in range(50):
            delay = backoff_delay(attempt, initial=0.5, maximum=30.0)
            assert ceiling / 2 <= delay <= ceiling
    assert backoff_delay(10_000, initial=0.5, maximum=30.0) <= 30.0


def test_unreachable_server_reconnects() -> None:
    # A port that was free a moment ago: nothing listens there, so every attempt is refused.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stream = WebSocketEventStream(f"http://127.0.0.1:{port}", "token",
                                  initial_delay=0.05, max_delay=0.1)
    recorder = Recorder(stream)
    try:
        recorder.wait_for_state(StreamState.RECONNECTING)
        assert "reconnecting in" in stream.detail
    finally:
        stream.close()
    assert stream.state is StreamState.CLOSED
    assert recorder.drain() == []


def test_unused_stream_closes() -> None:
    stream = WebSocketEventStream("http://127.0.0.1:9", "token")
    stream.close()
    assert stream.state is StreamState.CLOSED

