"""Fixtures: a market on a real SQLite file, and backends (one trader's desk each) on it."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from desk.backend import Backend, LocalBackend, Market, MarketConfig
from desk.backend.audit import audit
from desk.backend.store import Database
from tests.postgres import PostgresServer
from tests.support import PASSWORD, Clock, snapshot, unique_name

SECRET = "test-signing-key-" + "x" * 32
BACKEND_KINDS = ["local"]
DATABASE_KINDS = ["sqlite", "postgresql"]


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory: pytest.TempPathFactory,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test away from the user's real data folder and any .env file."""
    monkeypatch.setenv("DESK_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch.setenv("DESK_BCRYPT_ROUNDS", "4")


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _seed(url: str) -> None:
    Market.open(url, MarketConfig(secret_key=SECRET, bcrypt_rounds=4, clock=Clock())).close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated and seeded SQLite file that each test copies instead of seeding again."""
    path = tmp_path_factory.mktemp("template") / "market.db"
    _seed(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The PostgreSQL server of the tests; unreachable means failure, never a skip."""
    server = PostgresServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def postgres_template(postgres: PostgresServer) -> Iterator[str]:
    """A migrated and seeded PostgreSQL database that each test copies."""
    url = postgres.create()
    _seed(url)
    yield make_url(url).database or ""
    postgres.drop(url)


@pytest.fixture(params=DATABASE_KINDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly seeded market database of each kind, private to the test."""
    if request.param == "sqlite":
        path = tmp_path / "market.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.create(template=request.getfixturevalue("postgres_template"))
    yield url
    server.drop(url)


@pytest.fixture
def market(db_url: str, clock: Clock) -> Iterator[Market]:
    config = MarketConfig(secret_key=SECRET, bcrypt_rounds=4, clock=clock)
    market = Market.open(db_url, config)
    yield market
    market.close()


@pytest.fixture(params=BACKEND_KINDS)
def connect(request: pytest.FixtureRequest, market: Market) -> Iterator[Callable[[], Backend]]:
    """Return a factory of backends on one market; each is a desk nobody has logged in to."""
    opened: list[Backend] = []

    def factory() -> Backend:
        backend = LocalBackend(market)
        opened.append(backend)
        return backend

    yield factory
    for backend in opened:
        backend.close()


@pytest.fixture
def trader(connect: Callable[[], Backend]) -> Callable[[], Backend]:
    """Return a factory of freshly registered traders, each logged in on their own backend."""

    def factory() -> Backend:
        backend = connect()
        name = unique_name()
        backend.register(name, f"{name}@example.com", PASSWORD)
        backend.login(name, PASSWORD)
        return backend

    return factory


@pytest.fixture
def assert_audit(db_url: str) -> Iterator[Callable[[], None]]:
    """Return a function that fails the test if any market invariant is broken."""
    database = Database(db_url)

    def check() -> None:
        failed = [check for check in audit(database) if not check.passed]
        assert not failed, "\n".join(f"{c.name}: {c.problems}" for c in failed)

    yield check
    database.dispose()


@pytest.fixture
def market_rows(db_url: str) -> Callable[[], dict[str, list[tuple[Any, ...]]]]:
    """Return a function that reads the market's users, balances, trades and ledger rows."""
    return lambda: snapshot(db_url)
