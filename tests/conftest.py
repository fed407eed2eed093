"""Fixtures: a market on a real SQLite file, and backends (one trader's desk each) on it.

Backends are either local (in this process) or remote (``HttpBackend`` through a real
``desk serve`` process with its own SQLite file, one per test module). ``market_url`` is the
database of whichever market the test trades on, for audits and snapshots.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from functools import partial
from pathlib import Path

import pytest

from desk.backend import Backend, LocalBackend, Market, MarketConfig
from desk.backend.audit import audit
from desk.backend.remote import HttpBackend
from desk.backend.store import Database
from tests.serving import ServerProcess
from tests.support import PASSWORD, Clock, unique_name

SECRET = "test-signing-key-" + "x" * 32
BACKEND_KINDS = ["local", "remote"]

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


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'market.db'}"


@pytest.fixture
def market(db_url: str, clock: Clock) -> Iterator[Market]:
    config = MarketConfig(secret_key=SECRET, bcrypt_rounds=4, clock=clock)
    market = Market.open(db_url, config)
    yield market
    market.close()


@pytest.fixture(scope="module")
def server_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Run ``desk serve`` on a free loopback port for the tests of one module."""
    server = ServerProcess(tmp_path_factory.mktemp("server"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def server(server_process: ServerProcess, request: pytest.FixtureRequest) -> ServerProcess:
    """Return the module's running server; its log is shown if the test fails."""
    request.node.stash[SERVER_LOG] = (server_process, server_process.log_size())
    return server_process


@pytest.fixture(params=BACKEND_KINDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def market_url(request: pytest.FixtureRequest, db_url: str) -> str:
    """Return the URL of the database that the test's backends trade on.

    For a test that uses the server, directly or through remote backends, that is the
    server's own SQLite file.
    """
    remote = ("backend_kind" in request.fixturenames
              and request.getfixturevalue("backend_kind") == "remote")
    if remote or "server" in request.fixturenames:
        server: ServerProcess = request.getfixturevalue("server")
        return server.database_url
    return db_url


@pytest.fixture
def connect(request: pytest.FixtureRequest,
            backend_kind: str) -> Iterator[Callable[[], Backend]]:
    """Return a factory of backends on one market; each is a desk nobody has logged in to."""
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
