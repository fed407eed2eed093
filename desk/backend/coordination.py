"""Coordination between processes that share one market database.

``PostgresRelay`` carries market events between processes with PostgreSQL's LISTEN/NOTIFY, so
a WebSocket client of one server sees what happens on another without any extra broker.
``Leadership`` picks the one process that runs the price feed: a PostgreSQL advisory lock, or
a lock file beside a SQLite database.
"""

from __future__ import annotations

import abc
import json
import logging
import threading
import uuid
from pathlib import Path
from typing import IO, Any

import psycopg
from sqlalchemy import text

from desk.backend.events import Event, EventBus, ResyncEvent, event_adapter
from desk.backend.store import Database

log = logging.getLogger(__name__)

CHANNEL = "desk_events"
# NOTIFY payloads must stay under 8000 bytes (PostgreSQL's default limit).
MAX_PAYLOAD_BYTES = 7900
FEED_LOCK_ID = 727_002
RECONNECT_DELAYS = (0.5, 1, 2, 5, 10)


def libpq_dsn(database: Database) -> str:
    """Return the database's URL in the form that psycopg connects with."""
    return database.url.set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresRelay:
    """Publishes this process's events with NOTIFY and delivers other processes' events.

    Each payload names its origin, so a process ignores its own notifications; its local
    subscribers already had those events from the bus. After a lost connection is restored, the
    relay delivers a ``ResyncEvent`` locally, because notifications sent meanwhile are lost.
    """

    def __init__(self, database: Database, bus: EventBus) -> None:
        self.database = database
        self.bus = bus
        self.origin = uuid.uuid4().hex
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start listening, and wait (up to 10 s) until notifications are being received."""
        if self._thread is not None:
            return
        self.bus.add_relay(self.send)
        self._thread = threading.Thread(target=self._listen, name="event-relay", daemon=True)
        self._thread.start()
        if not self._listening.wait(timeout=10):
            log.warning("event relay is not listening yet; events from other servers may lag")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def send(self, event: Event) -> None:
        if isinstance(event, ResyncEvent):
            return  # it concerns this process's subscribers only
        payload = json.dumps({"origin": self.origin,
                              "event": json.loads(event_adapter.dump_json(event))},
                             separators=(",", ":"))
        if len(payload.encode("utf-8")) > MAX_PAYLOAD_BYTES:
            log.error("dropped a %s event of %d bytes: too large for NOTIFY",
                      event.type, len(payload))
            return
        with self.database.engine.begin() as connection:
            connection.execute(text("SELECT pg_notify(:channel, :payload)"),
                               {"channel": CHANNEL, "payload": payload})

    def _listen(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                with psycopg.connect(libpq_dsn(self.database), autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    if attempt:
                        # Notifications sent while the connection was down are gone.
                        log.info("event relay reconnected; asking subscribers to resync")
                        self.bus.deliver(ResyncEvent())
                    attempt = 0
                    while not self._stop.is_set():
                        for notice in connection.notifies(timeout=1.0):
                            self._receive(notice.payload)
            except psycopg.Error as error:
                delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
                attempt += 1
                log.warning("event relay lost its connection (%s); reconnecting in %s s",
                            error, delay)
                self._stop.wait(delay)

    def _receive(self, payload: str) -> None:
        try:
            message = json.loads(payload)
            if message.get("origin") == self.origin:
                return
            event = event_adapter.validate_python(message["event"])
        except (ValueError, KeyError, TypeError) as error:
            log.error("ignored a malformed event notification: %s", error)
            return
        self.bus.deliver(event)


class Leadership(abc.ABC):
    """Decides whether this process is the one that runs a shared job."""

    @abc.abstractmethod
    def acquire(self) -> bool:
        """Try to become (or stay) the leader without waiting; return whether this process is."""

    @abc.abstractmethod
    def release(self) -> None:
        """Give up leadership, if held."""

    @property
    @abc.abstractmethod
    def held(self) -> bool:
        """Whether this process is the leader now."""


class PostgresLeadership(Leadership):
    """Leadership through a session advisory lock held on a dedicated connection.

    If the leading process dies, PostgreSQL closes its session and frees the lock, and the next
    process that tries takes over.
    """

    def __init__(self, database: Database, lock_id: int = FEED_LOCK_ID) -> None:
        self.database = database
        self.lock_id = lock_id
        self._connection: psycopg.Connection[Any] | None = None

    def acquire(self) -> bool:
        if self._connection is not None and not self._connection.closed:
            try:
                self._connection.execute("SELECT 1")
                return True
            except psycopg.Error:
                self.release()
        try:
            connection = psycopg.connect(libpq_dsn(self.database), autocommit=True)
        except psycopg.Error as error:
            log.warning("cannot reach the database to take the feed lock: %s", error)
            return False
        row = connection.execute("SELECT pg_try_advisory_lock(%s)", (self.lock_id,)).fetchone()
        if row and row[0]:
            self._connection = connection
            log.info("this process now runs the price feed")
            return True
        connection.close()
        return False

    def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        # Unlock before closing: PostgreSQL frees a closed session's locks only once its
        # backend process has exited, which may be after another process tried to take over.
        try:
            if not connection.closed:
                connection.execute("SELECT pg_advisory_unlock(%s)", (self.lock_id,))
        except psycopg.Error as error:
            log.warning("could not unlock the feed lock before closing: %s", error)
        finally:
            connection.close()

    @property
    def held(self) -> bool:
        return self._connection is not None


class FileLeadership(Leadership):
    """Leadership through an exclusive lock on a file (for a SQLite database)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def acquire(self) -> bool:
        if self._handle is not None:
            return True
        try:
            import fcntl
        except ImportError:  # not on POSIX: assume this is the only process
            return True
        handle = self.path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    @property
    def held(self) -> bool:
        return self._handle is not None


class SoleLeadership(Leadership):
    """Leadership for a database no other process can open (SQLite in memory)."""

    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        return None

    @property
    def held(self) -> bool:
        return True


def leadership_for(database: Database, name: str = "feed") -> Leadership:
    """Return the leadership that fits the database's dialect."""
    if database.dialect == "postgresql":
        return PostgresLeadership(database)
    path = database.url.database
    if database.dialect == "sqlite" and path and path != ":memory:":
        return FileLeadership(Path(f"{path}.{name}.lock"))
    return SoleLeadership()
