"""Two ``desk serve`` processes on one PostgreSQL database: one market, whichever server a
client talks to."""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from desk.backend import Conflict, DeskError, Forbidden, InsufficientFunds, NotFound
from desk.backend.audit import audit
from desk.backend.events import BalanceEvent, PriceEvent, TradeEvent
from desk.backend.models import Balance, User
from desk.backend.money import AI_TOKENS, BTC, from_minor
from desk.backend.remote import HttpBackend
from desk.backend.store import Database
from desk.backend.stream import CatchUp, StreamState
from tests.postgres import PostgresServer
from tests.serving import ServerProcess
from tests.streams import DEADLINE, Recorder
from tests.support import PASSWORD, unique_name

TAKERS = 32
TRADERS = 12
TRADING_SECONDS = 10.0
FEED_INTERVAL = "0.5"
LEADER_LOG = "this process now runs the price feed"


def start_together(servers: list[ServerProcess]) -> None:
    """Start the servers at the same moment and wait until every one is healthy."""
    with ThreadPoolExecutor(max_workers=len(servers)) as pool:
        for started in [pool.submit(server.start) for server in servers]:
            started.result()


@pytest.fixture(scope="module")
def empty_database(postgres: PostgresServer) -> Iterator[str]:
    url = postgres.create()
    yield url
    postgres.drop(url)


@pytest.fixture(scope="module")
def servers(empty_database: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    """Two servers that started at once on an empty database, with a feed ticking twice a
    second."""
    pair = [ServerProcess(tmp_path_factory.mktemp(f"server-{name}"),
                          database_url=empty_database,
                          environment={"DESK_FEED_INTERVAL_SECONDS": FEED_INTERVAL})
            for name in ("a", "b")]
    try:
        start_together(pair)
        yield pair
    finally:
        for server in pair:
            server.stop()


@pytest.fixture
def desk(servers: list[ServerProcess]) -> Iterator[Callable[[ServerProcess], HttpBackend]]:
    """Return a factory of new traders logged in on the given server."""
    opened: list[HttpBackend] = []

    def factory(server: ServerProcess) -> HttpBackend:
        backend = HttpBackend(server.url)
        opened.append(backend)
        name = unique_name("multi")
        backend.register(name, f"{name}@example.com", PASSWORD)
        backend.login(name, PASSWORD)
        return backend

    yield factory
    for backend in opened:
        backend.close()


def assert_audit_passes(database_url: str) -> None:
    database = Database(database_url)
    try:
        failed = [check for check in audit(database) if not check.passed]
    finally:
        database.dispose()
    assert not failed, "\n".join(f"{check.name}: {check.problems}" for check in failed)


def balances_of(backend: HttpBackend) -> dict[str, Decimal]:
    return {row.token_type: row.balance for row in backend.balances().balances}


def test_concurrent_start_seeds_once(servers: list[ServerProcess],
                                     empty_database: str) -> None:
    database = Database(empty_database)
    try:
        with database.read() as connection:
            demo_users = connection.execute(
                select(func.count()).select_from(User).where(User.username == "demo")
            ).scalar_one()
            houses = connection.execute(
                select(func.count()).select_from(User).where(User.kind == "house")
            ).scalar_one()
    finally:
        database.dispose()
    assert demo_users == 1
    assert houses == 1
    assert_audit_passes(empty_database)


def test_one_of_32_takers_wins(servers: list[ServerProcess],
                               desk: Callable[[ServerProcess], HttpBackend]) -> None:
    maker = desk(servers[0])
    takers = [desk(servers[number % 2]) for number in range(TAKERS)]
    offer = maker.create_offer("OpenAI", "Anthropic", "10", "0.8")
    log_starts = [server.log_size() for server in servers]
    start = threading.Barrier(TAKERS)

    def take(backend: HttpBackend) -> object:
        start.wait()
        try:
            return backend.execute_offer(offer.id)
        except DeskError as error:
            return error

    with ThreadPoolExecutor(max_workers=TAKERS) as pool:
        outcomes = list(pool.map(take, takers))

    winners = [taker for taker, outcome in zip(takers, outcomes, strict=True)
               if not isinstance(outcome, DeskError)]
    conflicts = [outcome for outcome in outcomes if isinstance(outcome, Conflict)]
    assert len(winners) == 1
    assert len(conflicts) == TAKERS - 1

    statuses = []
    for server, log_start in zip(servers, log_starts, strict=True):
        served = server.wait_for_log(r"POST /api/trades/execute (\d{3}) ", TAKERS // 2,
                                     log_start)
        assert len(served) == TAKERS // 2, "each server took half of the requests"
        statuses += served
    assert sorted(statuses) == ["200"] + ["409"] * (TAKERS - 1)

    assert balances_of(maker)["OpenAI"] == Decimal("990")
    assert balances_of(maker)["Anthropic"] == Decimal("1008")
    assert balances_of(winners[0])["OpenAI"] == Decimal("1010")
    assert balances_of(winners[0])["Anthropic"] == Decimal("992")
    for taker in takers:
        if taker is not winners[0]:
            assert balances_of(taker)["OpenAI"] == Decimal("1000")
            assert balances_of(taker)["Anthropic"] == Decimal("1000")
    assert_audit_passes(servers[0].database_url)


def asset_totals(database_url: str) -> dict[str, Decimal]:
    database = Database(database_url)
    try:
        with database.read() as connection:
            rows = connection.execute(
                select(Balance.token_type, func.sum(Balance.balance))
                .group_by(Balance.token_type)).all()
    finally:
        database.dispose()
    return {asset: from_minor(total, asset) for asset, total in rows}


def negative_balances(database_url: str) -> list[tuple[object, ...]]:
    """Return (user id, asset, balance, held) of every balance below zero or below its hold."""
    database = Database(database_url)
    try:
        with database.read() as connection:
            rows = connection.execute(
                select(Balance.user_id, Balance.token_type, Balance.balance, Balance.held)
                .where((Balance.balance < 0) | (Balance.held < 0)
                       | (Balance.held > Balance.balance))).all()
    finally:
        database.dispose()
    return [tuple(row) for row in rows]


class RandomTrader:
    """Trades at random through one server until a deadline, counting what happened."""

    # Errors that a race with other traders can cause; anything else fails the test.
    EXPECTED = (Conflict, InsufficientFunds, NotFound, Forbidden)

    def __init__(self, backend: HttpBackend, seed: int) -> None:
        self.backend = backend
        self.random = random.Random(seed)
        self.outcomes: Counter[str] = Counter()
        self.unexpected: list[str] = []

    def run(self, deadline: float) -> None:
        actions = [self.create, self.create, self.execute, self.execute, self.cancel,
                   self.convert]
        while time.monotonic() < deadline:
            action = self.random.choice(actions)
            try:
                action()
                self.outcomes[f"{action.__name__} ok"] += 1
            except self.EXPECTED as error:
                self.outcomes[f"{action.__name__} {error.code}"] += 1
            except DeskError as error:
                self.unexpected.append(f"{action.__name__}: {type(error).__name__}: {error}")

    def create(self) -> None:
        from_token, to_token = self.random.sample([*AI_TOKENS, BTC], 2)
        if from_token == BTC:
            amount, rate = "0.0001", str(self.random.randint(5_000, 50_000))
        elif to_token == BTC:
            amount, rate = str(self.random.randint(1, 40)), "0.00002"
        else:
            amount, rate = str(self.random.randint(1, 40)), self.random.choice(["0.5", "1", "2.5"])
        self.backend.create_offer(from_token, to_token, amount, rate)

    def execute(self) -> None:
        page = self.backend.list_offers(limit=20)
        others = [trade for trade in page.trades if trade.creator_id != self.backend.user_id]
        if others:
            self.backend.execute_offer(self.random.choice(others).id)

    def cancel(self) -> None:
        page = self.backend.list_offers(mine=True, limit=20)
        if page.trades:
            self.backend.cancel_offer(self.random.choice(page.trades).id)

    def convert(self) -> None:
        token = self.random.choice(AI_TOKENS)
        if self.random.random() < 0.5:
            self.backend.convert(token, BTC, str(self.random.randint(1, 20)))
        else:
            self.backend.convert(BTC, token, "0.00001")


def test_random_trading_conserves_totals(servers: list[ServerProcess],
                                         desk: Callable[[ServerProcess], HttpBackend]) -> None:
    url = servers[0].database_url
    traders = [RandomTrader(desk(servers[number % 2]), seed=number)
               for number in range(TRADERS)]
    before = asset_totals(url)
    log_starts = [server.log_size() for server in servers]

    deadline = time.monotonic() + TRADING_SECONDS
    threads = [threading.Thread(target=trader.run, args=(deadline,)) for trader in traders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [problem for trader in traders for problem in trader.unexpected] == []
    outcomes = sum((trader.outcomes for trader in traders), Counter())
    assert outcomes["execute ok"] > 0, outcomes
    assert outcomes["convert ok"] > 0, outcomes
    for server, log_start in zip(servers, log_starts, strict=True):
        server.wait_for_log(r"POST /api/trades/execute 200 ", 1, log_start)
        log = server.log_text(log_start)
        assert not re.search(r" 5\d\d [\d.]+ ms$", log, re.MULTILINE), "no server error"

    assert asset_totals(url) == before
    assert negative_balances(url) == []
    assert_audit_passes(url)


def test_events_cross_servers(servers: list[ServerProcess],
                              desk: Callable[[ServerProcess], HttpBackend]) -> None:
    first, second = servers
    alice, carol = desk(first), desk(first)
    bob = desk(second)
    watchers = {name: Recorder(backend.events())
                for name, backend in (("alice", alice), ("bob", bob), ("carol", carol))}
    for watcher in watchers.values():
        watcher.wait_for_state(StreamState.CONNECTED)
        watcher.drain()

    offer = alice.create_offer("OpenAI", "Google", "12", "2")
    assert watchers["bob"].trade("created", offer.id).trade == offer

    bob.execute_offer(offer.id)
    executed = watchers["alice"].trade("executed", offer.id)
    assert executed.trade.executor_id == bob.user_id
    # Alice's balances changed on the second server and reach her stream on the first.
    sale = watchers["alice"].next_of(
        BalanceEvent, lambda event: any(row.token_type == "Google" and row.balance == 1024
                                        for row in event.balances))
    assert sale.user_id == alice.user_id

    # Carol, on Alice's server, receives the trade but none of Alice's or Bob's balance events.
    # Events reach her in publishing order, so any of those would come before the marker.
    marker = bob.create_offer("Cohere", "BTC", "1", "0.00001")
    watchers["carol"].trade("executed", offer.id)
    before_marker = []
    while True:
        item = watchers["carol"].next_item(lambda item: True)
        if isinstance(item, TradeEvent) and item.trade.id == marker.id:
            break
        before_marker.append(item)
    assert [event for event in before_marker if isinstance(event, BalanceEvent)] == []


def test_relay_outage_makes_clients_catch_up(
        servers: list[ServerProcess], desk: Callable[[ServerProcess], HttpBackend],
        postgres: PostgresServer, empty_database: str) -> None:
    first, second = servers
    alice, bob = desk(first), desk(second)
    watchers = [Recorder(backend.events()) for backend in (alice, bob)]
    for watcher in watchers:
        watcher.wait_for_state(StreamState.CONNECTED)
        watcher.drain()

    # Each server's relay loses its LISTEN session, and with it any notification meanwhile.
    assert postgres.end_listeners(empty_database) == 2
    for watcher in watchers:
        assert watcher.next_of(CatchUp) == CatchUp(reconnected=True)

    offer = alice.create_offer("Mistral", "Cohere", "4", "1")
    assert watchers[1].trade("created", offer.id).trade == offer
    for watcher in watchers:
        assert watcher.stream.state is StreamState.CONNECTED
        assert StreamState.RECONNECTING not in watcher.drain_states()


def leaders_of(servers: list[ServerProcess]) -> list[ServerProcess]:
    """Return the servers that have taken the feed lock, once at least one has; fail after the
    deadline. A server takes the lock at its first tick, one feed interval after it starts."""
    deadline = time.monotonic() + DEADLINE
    while True:
        leaders = [server for server in servers if LEADER_LOG in server.log_text()]
        if leaders or time.monotonic() > deadline:
            return leaders
        time.sleep(0.05)  # a poll interval, not a wait for readiness


def test_one_feed_for_both_servers(servers: list[ServerProcess],
                                   desk: Callable[[ServerProcess], HttpBackend]) -> None:
    leaders = leaders_of(servers)
    assert len(leaders) == 1

    watchers = [Recorder(desk(server).events()) for server in servers]
    for watcher in watchers:
        watcher.wait_for_state(StreamState.CONNECTED)
        watcher.drain()
    # A tick that arrived between the two drains is in one queue only, so take the next one.
    watchers[0].next_of(PriceEvent)
    tick = watchers[0].next_of(PriceEvent)
    # The same tick reaches the other server's client, locally or through the relay.
    same = watchers[1].next_of(PriceEvent, lambda event: event.prices == tick.prices)
    assert same.prices == tick.prices
    assert [server for server in servers if LEADER_LOG in server.log_text()] == leaders


def test_feed_moves_to_survivor(postgres: PostgresServer, postgres_template: str,
                                tmp_path: Path) -> None:
    url = postgres.create(template=postgres_template)
    pair = [ServerProcess(tmp_path / name, database_url=url,
                          environment={"DESK_FEED_INTERVAL_SECONDS": "0.2"})
            for name in ("a", "b")]
    for server in pair:
        server.folder.mkdir()
    backend: HttpBackend | None = None
    try:
        start_together(pair)
        leader = leaders_of(pair)[0]
        survivor = next(server for server in pair if server is not leader)
        backend = HttpBackend(survivor.url)
        backend.login("demo", "demo123")
        watcher = Recorder(backend.events())
        watcher.wait_for_state(StreamState.CONNECTED)

        leader.stop()
        watcher.drain()
        first = watcher.next_of(PriceEvent)
        second = watcher.next_of(PriceEvent, lambda event: event.prices != first.prices)
        assert second.prices != first.prices
        assert LEADER_LOG in survivor.log_text()
    finally:
        if backend is not None:
            backend.close()
        for server in pair:
            server.stop()
        postgres.drop(url)


def test_prices_follow_other_servers_ticks(postgres: PostgresServer, postgres_template: str,
                                           tmp_path: Path) -> None:
    """A server that does not run the feed answers with the prices of the leader's last tick.

    The follower's feed interval is an hour, so its cached prices never expire during the
    test: only the leader's events, through the relay, can bring it the new prices.
    """
    url = postgres.create(template=postgres_template)
    leader = ServerProcess(tmp_path / "leader", database_url=url,
                           environment={"DESK_FEED_INTERVAL_SECONDS": "1"})
    follower = ServerProcess(tmp_path / "follower", database_url=url,
                             environment={"DESK_FEED_INTERVAL_SECONDS": "3600"})
    for server in (leader, follower):
        server.folder.mkdir()
    try:
        leader.start()
        assert leaders_of([leader]) == [leader]
        follower.start()
        first = httpx.get(f"{follower.url}/api/market/prices").json()

        deadline = time.monotonic() + DEADLINE
        while True:
            before = httpx.get(f"{leader.url}/api/market/prices").json()
            seen = httpx.get(f"{follower.url}/api/market/prices").json()
            after = httpx.get(f"{leader.url}/api/market/prices").json()
            # Equal to two reads of the leader between which it did not tick.
            if seen != first and seen == before == after:
                break
            assert time.monotonic() < deadline, (
                f"the follower still answers {seen}\nwhile the leader answers {after}")
            time.sleep(0.05)  # a poll interval, not a wait for readiness
        assert LEADER_LOG not in follower.log_text()
    finally:
        for server in (follower, leader):
            server.stop()
        postgres.drop(url)
