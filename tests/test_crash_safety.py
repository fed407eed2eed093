"""Crash safety: SIGKILL a server in the middle of trading, restart it, and lose nothing.

Traders on their own threads trade through ``HttpBackend`` against a real ``desk serve``, and
record every operation that got a successful response. After a number of them the server is
killed with SIGKILL and started again on the same port and database, while the traders keep
going (their retries carry the same idempotency keys across the restart). After a few such
rounds, ``desk audit`` must pass, and every acknowledged offer, execution, cancellation and
conversion must be in the database. Runs on a SQLite file and on PostgreSQL.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from desk.backend import DeskError, Unavailable
from desk.backend.models import Conversion, Trade
from desk.backend.money import AI_TOKENS, from_minor
from desk.backend.remote import HttpBackend
from desk.backend.store import Database
from tests.postgres import PostgresServer
from tests.serving import ServerProcess, server_environment
from tests.support import PASSWORD, unique_name

TRADERS = 6
# Server kills per database, and the new successful responses awaited before each kill: the kill
# points vary, so some land in a burst of writes and some between them.
RESPONSES_BEFORE_KILL = (25, 60, 10)
# The longest wait for the responses before one kill, in seconds: a deadline, not a pace.
ROUND_DEADLINE_SECONDS = 120.0


@dataclass
class Acknowledged:
    """The operations that the server confirmed with a successful response."""

    created: dict[int, int] = field(default_factory=dict)  # trade id -> creator id
    executed: dict[int, int] = field(default_factory=dict)  # trade id -> executor id
    cancelled: set[int] = field(default_factory=set)
    # (user id, from, to, amount, received) of each conversion, counted.
    conversions: Counter[tuple[int, str, str, Decimal, Decimal]] = field(
        default_factory=Counter)
    responses: int = 0
    unavailable: int = 0


class Floor:
    """The traders' shared state: the acknowledgements and the offers open to takers."""

    def __init__(self) -> None:
        self.acknowledged = Acknowledged()
        self.offers: list[tuple[int, int]] = []  # (trade id, creator id)
        self.changed = threading.Condition()
        self.stop = threading.Event()

    def acknowledge(self, record: Callable[[Acknowledged], object]) -> None:
        with self.changed:
            record(self.acknowledged)
            self.acknowledged.responses += 1
            self.changed.notify_all()

    def wait_for_responses(self, count: int) -> None:
        with self.changed:
            target = self.acknowledged.responses + count
            reached = self.changed.wait_for(lambda: self.acknowledged.responses >= target,
                                            timeout=ROUND_DEADLINE_SECONDS)
        assert reached, (f"the traders got fewer than {count} successful responses in "
                         f"{ROUND_DEADLINE_SECONDS} s")


def trade(floor: Floor, backend: HttpBackend, seed: int) -> None:
    """Trade on one backend until the floor stops: offers, takes, cancellations, conversions."""
    pick = random.Random(seed)
    user_id = backend.user_id
    assert user_id is not None
    mine: list[int] = []
    while not floor.stop.is_set():
        action = pick.choice(["create", "create", "execute", "cancel", "convert"])
        try:
            if action == "create":
                first, second = pick.sample(AI_TOKENS, 2)
                offer = backend.create_offer(first, second, str(pick.randint(1, 3)), "1")
                mine.append(offer.id)
                with floor.changed:
                    floor.offers.append((offer.id, user_id))
                floor.acknowledge(lambda ack, t=offer.id: ack.created.__setitem__(t, user_id))
            elif action == "execute":
                with floor.changed:
                    others = [offer for offer in floor.offers if offer[1] != user_id]
                    if not others:
                        continue
                    chosen = pick.choice(others)
                    floor.offers.remove(chosen)
                taken = backend.execute_offer(chosen[0])
                floor.acknowledge(lambda ack, t=taken.id: ack.executed.__setitem__(t, user_id))
            elif action == "cancel":
                if not mine:
                    continue
                cancelled = backend.cancel_offer(mine.pop(pick.randrange(len(mine))))
                floor.acknowledge(lambda ack, t=cancelled.id: ack.cancelled.add(t))
            else:
                result = backend.convert(pick.choice(AI_TOKENS), "BTC", "1")
                key = (user_id, result.from_token, result.to_token, result.amount,
                       result.received)
                floor.acknowledge(lambda ack, k=key: ack.conversions.update([k]))
        except Unavailable:
            with floor.changed:
                floor.acknowledged.unavailable += 1
        except DeskError:
            pass  # an offer taken or cancelled by someone else first: expected


@pytest.fixture
def crash_database(database_kind: str, tmp_path: Path,
                   request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The URL of an empty database for the server, or None for its own new SQLite file."""
    if database_kind == "sqlite":
        yield None
        return
    postgres: PostgresServer = request.getfixturevalue("postgres")
    url = postgres.create()
    yield url
    postgres.drop(url)


def check_acknowledged(url: str, acknowledged: Acknowledged) -> None:
    database = Database(url)
    try:
        with database.read() as connection:
            trades = {row.id: row for row in connection.execute(select(Trade))}
            stored = Counter(
                (row.user_id, row.from_token, row.to_token,
                 from_minor(row.amount, row.from_token), from_minor(row.received, row.to_token))
                for row in connection.execute(select(Conversion)))
    finally:
        database.dispose()

    missing_offers = [trade_id for trade_id, creator in acknowledged.created.items()
                      if trade_id not in trades or trades[trade_id].creator_id != creator]
    missing_executions = [trade_id for trade_id, taker in acknowledged.executed.items()
                          if trades[trade_id].status != "completed"
                          or trades[trade_id].executor_id != taker]
    missing_cancellations = [trade_id for trade_id in acknowledged.cancelled
                             if trades[trade_id].status != "cancelled"]
    missing_conversions = acknowledged.conversions - stored
    assert missing_offers == []
    assert missing_executions == []
    assert missing_cancellations == []
    assert missing_conversions == Counter()


@pytest.mark.slow
def test_killed_server_loses_nothing(crash_database: str | None, tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, database_url=crash_database)
    server.start()
    floor = Floor()
    backends = []
    for _ in range(TRADERS):
        backend = HttpBackend(server.url, timeout=10.0, retries=5, backoff=0.1)
        name = unique_name("crash")
        backend.register(name, f"{name}@example.com", PASSWORD)
        backend.login(name, PASSWORD)
        backends.append(backend)
    threads = [threading.Thread(target=trade, args=(floor, backend, index), daemon=True)
               for index, backend in enumerate(backends)]
    for thread in threads:
        thread.start()

    statuses = []
    try:
        for responses in RESPONSES_BEFORE_KILL:
            floor.wait_for_responses(responses)
            statuses.append(server.kill())
            server.start(port=server.port)
        floor.wait_for_responses(10)
    finally:
        floor.stop.set()
        for thread in threads:
            thread.join(timeout=60)
        for backend in backends:
            backend.close()
        server.stop()

    audit = subprocess.run(
        [sys.executable, "-m", "desk", "audit", "--db", server.database_url], cwd=tmp_path,
        capture_output=True, text=True, env=server_environment(tmp_path / "audit"),
        timeout=120, check=False)
    acknowledged = floor.acknowledged
    assert statuses == [-9] * len(RESPONSES_BEFORE_KILL)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert acknowledged.created
    assert acknowledged.executed
    assert acknowledged.conversions
    check_acknowledged(server.database_url, acknowledged)
