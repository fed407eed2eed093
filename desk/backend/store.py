"""The database: engine set-up per dialect and the two kinds of transaction the market uses.

Write transactions on SQLite begin with ``BEGIN IMMEDIATE``. Python's sqlite3 module (legacy
transaction control, as on Python 3.11) would otherwise issue no ``BEGIN`` before a SELECT and
only a deferred one before the first write, so a read-check-write sequence would not be
isolated, and two deferred writers upgrading their locks at once fail at once with "database is
locked" instead of waiting. SQLAlchemy also drops ``FOR UPDATE`` on SQLite, so the immediate
lock is what serialises writers there. On PostgreSQL the services lock rows with
``SELECT ... FOR UPDATE`` instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

log = logging.getLogger(__name__)

# How long a SQLite writer waits for another writer's lock before failing.
SQLITE_BUSY_TIMEOUT_SECONDS = 30
_WRITE_OPTION = "desk_write"


@dataclass(frozen=True)
class PoolOptions:
    """Sizes and timeouts of a database engine's connection pool.

    ``size`` connections stay open; up to ``max_overflow`` more open under load and close when
    returned. A request that finds all of them busy waits ``timeout`` seconds, then fails with
    SQLAlchemy's pool ``TimeoutError`` (the server responds with 503). On PostgreSQL, connections
    older than ``recycle`` seconds are replaced (-1 keeps them), and with ``pre_ping`` each
    checkout first tests its connection, so one that a database restart closed is replaced
    instead of failing a request. SQLite files use ``size``, ``max_overflow`` and ``timeout``.
    """

    size: int = 8
    max_overflow: int = 16
    timeout: float = 30.0
    recycle: float = 1800.0
    pre_ping: bool = True

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"pool size must be at least 1, got {self.size}")
        if self.max_overflow < 0:
            raise ValueError(f"pool max_overflow must be 0 or more, got {self.max_overflow}")
        if self.timeout <= 0:
            raise ValueError(f"pool timeout must be positive, got {self.timeout}")


class Database:
    """An engine with separate read and write transactions.

    ``read()`` gives a consistent snapshot for several SELECTs; ``write()`` takes the write
    lock up front on SQLite (see the module docstring).
    """

    def __init__(self, url: str, *, pool: PoolOptions | None = None, echo: bool = False) -> None:
        self.url = make_url(url)
        self.pool = pool or PoolOptions()
        self.engine = _create_engine(url, pool=self.pool, echo=echo)
        self._writer = self.engine.execution_options(**{_WRITE_OPTION: True})

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def location(self) -> str:
        """Where the data lives, for people: a file path or a URL without its password."""
        if self.dialect == "sqlite":
            return self.url.database or ":memory:"
        return self.url.render_as_string(hide_password=True)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.begin() as connection:
            yield connection

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self._writer.begin() as connection:
            yield connection

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """Open a read-only transaction in which every statement reads the same snapshot.

        PostgreSQL's default READ COMMITTED gives each statement a new snapshot, so this
        asks for REPEATABLE READ there. A SQLite read transaction in WAL mode already reads
        one snapshot, taken at its first read.
        """
        if self.dialect != "postgresql":
            with self.read() as connection:
                yield connection
            return
        engine = self.engine.execution_options(isolation_level="REPEATABLE READ",
                                               postgresql_readonly=True)
        with engine.begin() as connection:
            yield connection

    def dispose(self) -> None:
        self.engine.dispose()


def _create_engine(url: str, *, pool: PoolOptions, echo: bool) -> Engine:
    # hide_parameters keeps statement parameters, such as a password hash, out of the message
    # of every database error, and so out of the server log.
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_size=pool.size, max_overflow=pool.max_overflow,
                             pool_timeout=pool.timeout, pool_recycle=pool.recycle,
                             pool_pre_ping=pool.pre_ping, echo=echo, hide_parameters=True)

    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or parsed.query.get("mode") == "memory"
    options: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
        "echo": echo,
        "hide_parameters": True,
    }
    if in_memory:
        # Every connection to ":memory:" would open a new, empty database; share one.
        options["poolclass"] = StaticPool
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        options["pool_size"] = pool.size
        options["max_overflow"] = pool.max_overflow
        options["pool_timeout"] = pool.timeout
    engine = create_engine(url, **options)
    _configure_sqlite(engine, wal=not in_memory)
    return engine


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from the sqlite3 module; "begin" below issues BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if wal:
            # WAL lets readers run beside the one writer; NORMAL sync is durable against a
            # crash of the process (not of the operating system).
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(_WRITE_OPTION):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")
