"""Processes sharing one database: the NOTIFY relay, feed leadership and following ticks."""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from desk.backend import LocalBackend, Market, MarketConfig
from desk.backend.coordination import FileLeadership, PostgresLeadership, PostgresRelay
from desk.backend.events import BalanceEvent, Event, PriceEvent, ResyncEvent, TradeEvent
from desk.backend.feed import FeedRunner, RandomWalk
from desk.backend.runtime import MarketRuntime
from desk.backend.store import Database
from tests.conftest import SECRET
from tests.postgres import PostgresServer
from tests.support import PASSWORD

WAIT = 20  # seconds to wait for an event that should arrive


@pytest.fixture
def postgres_url(postgres: PostgresServer, postgres_template: str) -> Iterator[str]:
    url = postgres.create(template=postgres_template)
    yield url
    postgres.drop(url)


@pytest.fixture
def open_market() -> Iterator[Callable[[str], Market]]:
    """Return a function that opens another process's view of a market (closed afterwards)."""
    opened: list[Market] = []

    def factory(url: str) -> Market:
        market = Market.open(url, MarketConfig(secret_key=SECRET, bcrypt_rounds=4))
        opened.append(market)
        return market

    yield factory
    for market in opened:
        market.close()


def collect(market: Market, user_id: int | None = None) -> queue.Queue[Event]:
    events: queue.Queue[Event] = queue.Queue()
    market.events.subscribe(events.put, user_id=user_id)
    return events


def next_of(events: queue.Queue[Event], kind: type[Event]) -> Event:
    while True:
        event = events.get(timeout=WAIT)
        if isinstance(event, kind):
            return event


def login(market: Market, name: str) -> LocalBackend:
    market.register(name, f"{name}@example.com", PASSWORD)
    backend = LocalBackend(market)
    backend.login(name, PASSWORD)
    return backend


def test_relay_carries_events_between_markets(
    postgres_url: str, open_market: Callable[[str], Market]
) -> None:
    first, second = open_market(postgres_url), open_market(postgres_url)
    relays = [PostgresRelay(first.database, first.events),
              PostgresRelay(second.database, second.events)]
    for relay in relays:
        relay.start()
    try:
        alice, bob = login(first, "alice"), login(second, "bobby")
        on_first = collect(first)
        on_second = collect(second)
        alice_events = collect(second, user_id=alice.user_id)
        bob_events = collect(first, user_id=bob.user_id)

        offer = alice.create_offer("OpenAI", "Google", "12", "2")
        created = next_of(on_second, TradeEvent)
        assert isinstance(created, TradeEvent)
        assert (created.action, created.trade.id) == ("created", offer.id)

        bob.execute_offer(offer.id)
        # The first process saw its own "created" locally, then "executed" through the relay.
        local = next_of(on_first, TradeEvent)
        relayed = next_of(on_first, TradeEvent)
        assert isinstance(local, TradeEvent)
        assert isinstance(relayed, TradeEvent)
        assert local.action == "created"
        assert (relayed.action, relayed.trade.executor_id) == ("executed", bob.user_id)

        # Alice's balances travel to the other process, and only to her subscription there.
        balance = next_of(alice_events, BalanceEvent)
        assert isinstance(balance, BalanceEvent)
        assert balance.user_id == alice.user_id
        bob_balance = next_of(bob_events, BalanceEvent)
        assert isinstance(bob_balance, BalanceEvent)
        assert bob_balance.user_id == bob.user_id
    finally:
        for relay in relays:
            relay.stop()


def test_relay_does_not_echo_own_events(
    postgres_url: str, open_market: Callable[[str], Market]
) -> None:
    first, second = open_market(postgres_url), open_market(postgres_url)
    relays = [PostgresRelay(first.database, first.events),
              PostgresRelay(second.database, second.events)]
    for relay in relays:
        relay.start()
    try:
        on_first = collect(first)
        on_second = collect(second)
        FeedRunner(first, RandomWalk(seed=1), interval=1).tick()
        assert isinstance(next_of(on_second, PriceEvent), PriceEvent)
        assert isinstance(on_first.get(timeout=WAIT), PriceEvent)
        # A marker event published after the tick arrives next: the tick was not echoed back.
        FeedRunner(second, RandomWalk(seed=2), interval=1).tick()
        marker = on_first.get(timeout=WAIT)
        assert isinstance(marker, PriceEvent)
        assert marker.prices == second.prices()
    finally:
        for relay in relays:
            relay.stop()


def test_relay_resyncs_after_lost_connection(
    postgres: PostgresServer, postgres_url: str, open_market: Callable[[str], Market]
) -> None:
    first, second = open_market(postgres_url), open_market(postgres_url)
    relays = [PostgresRelay(first.database, first.events),
              PostgresRelay(second.database, second.events)]
    for relay in relays:
        relay.start()
    try:
        on_first = collect(first)
        assert postgres.end_listeners(postgres_url) == 2
        assert isinstance(next_of(on_first, ResyncEvent), ResyncEvent)

        # The restored connection carries events again.
        FeedRunner(second, RandomWalk(seed=5), interval=1).tick()
        tick = next_of(on_first, PriceEvent)
        assert isinstance(tick, PriceEvent)
        assert tick.prices == second.prices()
    finally:
        for relay in relays:
            relay.stop()


def test_postgres_leadership_is_exclusive(postgres_url: str) -> None:
    database = Database(postgres_url)
    first, second = PostgresLeadership(database), PostgresLeadership(database)
    try:
        assert first.acquire()
        assert first.acquire()
        assert not second.acquire()
        first.release()
        assert second.acquire()
    finally:
        first.release()
        second.release()
        database.dispose()


def test_file_leadership_is_exclusive(tmp_path: Path) -> None:
    first = FileLeadership(tmp_path / "feed.lock")
    second = FileLeadership(tmp_path / "feed.lock")
    assert first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()


def test_follower_passes_on_ticks(tmp_path: Path,
                                  open_market: Callable[[str], Market]) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    leader_market, follower_market = open_market(url), open_market(url)
    lock = tmp_path / "feed.lock"
    leader = FeedRunner(leader_market, RandomWalk(seed=3), 1, leadership=FileLeadership(lock),
                        follow=True)
    follower = FeedRunner(follower_market, RandomWalk(seed=4), 1,
                          leadership=FileLeadership(lock), follow=True)
    seen = collect(follower_market)
    try:
        leader.step()
        follower.step()  # learns the current prices; nothing new to pass on yet
        assert seen.empty()
        leader.step()
        follower.step()
        event = seen.get(timeout=WAIT)
        assert isinstance(event, PriceEvent)
        assert event.prices == leader_market.prices()
    finally:
        leader.leadership.release()
        follower.leadership.release()


def test_runtime_runs_feed_on_postgres(postgres_url: str,
                                       open_market: Callable[[str], Market]) -> None:
    first, second = open_market(postgres_url), open_market(postgres_url)
    runtimes = [MarketRuntime(market, RandomWalk(seed=n), interval=0.05)
                for n, market in enumerate((first, second))]
    seen = [collect(first), collect(second)]
    for runtime in runtimes:
        runtime.start()
    try:
        for events in seen:
            assert isinstance(next_of(events, PriceEvent), PriceEvent)
        assert sum(runtime.feed.leadership.held for runtime in runtimes) == 1
    finally:
        for runtime in runtimes:
            runtime.stop()
