"""Fixtures: markets on real databases, and backends (one trader's desk each) on them.

Every test that takes a market database runs on SQLite and on PostgreSQL (``database_kind``).
Backends are local (in this process) or remote (``HttpBackend`` through a real ``desk serve``
process, one per database kind and test module). ``market_url`` is the database of whichever
market the test trades on, for audits and snapshots.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Generator, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from desk.backend import Backend, LocalBackend, Market, MarketConfig
from desk.backend.audit import audit
from desk.backend.remote import HttpBackend
from desk.backend.store import Database
from tests.postgres import PostgresServer
from tests.serving import ServerProcess
from tests.support import PASSWORD, Clock, snapshot, unique_name

SECRET = "test-signing-key-" + "x" * 32
BACKEND_KINDS = ["local", "remote"]
DATABASE_KINDS = ["sqlite", "postgresql"]

# The server and the size of its log when a test started, to show what it logged if the
# test fails.
SERVER_LOG = pytest.StashKey[tuple[ServerProcess, int]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None],
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and SERVER_LOG in item.stash:
        server, offset = item.stash[SERVER_LOG]
        report.sections.append(("desk serve log", server.log_text(offset)))
    return report


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
    """The name of a migrated and seeded PostgreSQL database that each test copies."""
    url = postgres.create()
    _seed(url)
    yield make_url(url).database or ""
    postgres.drop(url)


@pytest.fixture(params=DATABASE_KINDS)
def database_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def db_url(request: pytest.FixtureRequest, database_kind: str, tmp_path: Path) -> Iterator[str]:
    """A freshly seeded market database of the test's kind, private to the test."""
    if database_kind == "sqlite":
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


class ServerPool:
    """One ``desk serve`` per database kind, started on first use, stopped at the end."""

    def __init__(self, request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> None:
        self._request = request
        self._tmp_path_factory = tmp_path_factory
        self._servers: dict[str, ServerProcess] = {}
        self._databases: list[str] = []

    def get(self, kind: str) -> ServerProcess:
        if kind not in self._servers:
            folder = self._tmp_path_factory.mktemp(f"server-{kind}")
            database_url = None
            if kind == "postgresql":
                postgres: PostgresServer = self._request.getfixturevalue("postgres")
                database_url = postgres.create(
                    template=self._request.getfixturevalue("postgres_template"))
                self._databases.append(database_url)
            server = ServerProcess(folder, database_url=database_url)
            server.start()
            self._servers[kind] = server
        return self._servers[kind]

    def close(self) -> None:
        for server in self._servers.values():
            server.stop()
        if self._databases:
            postgres: PostgresServer = self._request.getfixturevalue("postgres")
            for url in self._databases:
                postgres.drop(url)


@pytest.fixture(scope="module")
def server_pool(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    pool = ServerPool(request, tmp_path_factory)
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def server_process(server_pool: ServerPool) -> ServerProcess:
    """The module's ``desk serve`` on a SQLite file."""
    return server_pool.get("sqlite")


@pytest.fixture
def server(server_pool: ServerPool, database_kind: str,
           request: pytest.FixtureRequest) -> ServerProcess:
    """Return the module's running server on the test's database kind.

    Its log is shown if the test fails.
    """
    running = server_pool.get(database_kind)
    request.node.stash[SERVER_LOG] = (running, running.log_size())
    return running


@pytest.fixture(params=BACKEND_KINDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def market_url(request: pytest.FixtureRequest, database_kind: str) -> str:
    """Return the URL of the database that the test's backends trade on.

    For a test that uses the server, directly or through remote backends, that is the
    server's own database. (``database_kind`` is named here so that pytest parametrizes
    the tests by it; the fixtures looked up below depend on it.)
    """
    remote = ("backend_kind" in request.fixturenames
              and request.getfixturevalue("backend_kind") == "remote")
    if remote or "server" in request.fixturenames:
        server: ServerProcess = request.getfixturevalue("server")
        return server.database_url
    url: str = request.getfixturevalue("db_url")
    return url


@pytest.fixture
def connect(request: pytest.FixtureRequest, backend_kind: str,
            database_kind: str) -> Iterator[Callable[[], Backend]]:
    """Return a factory of backends on one market; each is a desk nobody has logged in to.

    The market is in this process or behind the server, on a database of ``database_kind``.
    """
    opened: list[Backend] = []
    make: Callable[[], Backend]
    if backend_kind == "remote":
        make = partial(HttpBackend, request.getfixturevalue("server").url)
    else:
        make = partial(LocalBackend, request.getfixturevalue("market"))

    def factory() -> Backend:
        backend = make()
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
def assert_audit(market_url: str) -> Iterator[Callable[[], None]]:
    """Return a function that fails the test if any market invariant is broken."""
    database = Database(market_url)

    def check() -> None:
        failed = [check for check in audit(database) if not check.passed]
        assert not failed, "\n".join(f"{c.name}: {c.problems}" for c in failed)

    yield check
    database.dispose()


@pytest.fixture
def market_rows(market_url: str) -> Callable[[], dict[str, list[tuple[Any, ...]]]]:
    """Return a function that reads the market's users, balances, trades and ledger rows."""
    return lambda: snapshot(market_url)
