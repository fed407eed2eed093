"""Login throttling: too many failed logins for one username or one client address get 429.

Every login attempt is recorded in the ``login_attempts`` table before its password is
checked, and a successful login deletes its record again, so the records in a window are the
failures plus the attempts still checking their password. An attempt is rejected with
``RateLimited`` (429) while a username has ``per_username`` records in the window, or an address
``per_address``; the error gives the seconds until the oldest of them leaves the window.

The records live in the market database, so every server process on one database counts the
same attempts, and a restart forgets none. Admitting an attempt is one short write
transaction, serialised per username and address (SQLite's write lock, or PostgreSQL advisory
locks), so concurrent attempts cannot slip past a limit together. Rejected attempts are not
recorded and cost no bcrypt time, so a flood of them keeps the limit without growing the table.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, delete, func, insert, or_, select, text

from desk.backend.errors import RateLimited
from desk.backend.models import LoginAttempt
from desk.backend.store import Database

log = logging.getLogger(__name__)

MAX_ADDRESS_LENGTH = 64
MAX_USERNAME_LENGTH = 32
# Rows deleted per transaction when purging old attempts.
PURGE_BATCH = 1000
# A throttled username and address is logged at most once per this many seconds.
LOG_INTERVAL_SECONDS = 60.0


@dataclass(frozen=True)
class LoginLimits:
    """How many failed logins one username and one client address may have in ``window``."""

    window: timedelta = timedelta(minutes=15)
    per_username: int = 5
    per_address: int = 30


class LoginThrottle:
    """Records login attempts and rejects those past the limits (see the module docstring)."""

    def __init__(self, database: Database, limits: LoginLimits,
                 clock: Callable[[], datetime]) -> None:
        self.database = database
        self.limits = limits
        self.clock = clock
        self._log = _ThrottleLog()

    def admit(self, username: str, address: str | None) -> int:
        """Record an attempt to log in as ``username`` from ``address``; return its id.

        ``address`` is None for a login in the same process, which only the username limit
        applies to. Raises ``RateLimited`` if a limit is reached, recording nothing.
        """
        # Lower case can be longer than the name: "İ".lower() is "i" and a combining dot. No
        # account has such a name, so cutting it to the column's length merges no real names.
        name = username.lower()[:MAX_USERNAME_LENGTH]
        if address is not None:
            address = address[:MAX_ADDRESS_LENGTH]
        now = self.clock()
        since = now - self.limits.window
        with self.database.write() as connection:
            if self.database.dialect == "postgresql":
                _lock_keys(connection, [f"username:{name}", f"address:{address}"])
            wait = self._wait(connection, LoginAttempt.username == name,
                              self.limits.per_username, since, now)
            if address is not None:
                wait = max(wait, self._wait(connection, LoginAttempt.address == address,
                                            self.limits.per_address, since, now))
            if wait == 0:
                return connection.execute(
                    insert(LoginAttempt).values(username=name, address=address, at=now)
                    .returning(LoginAttempt.id)
                ).scalar_one()
        self._log.throttled(username, address, wait, self.limits)
        raise RateLimited(f"too many failed logins; try again in {wait} seconds", wait)

    def succeeded(self, attempt_id: int, username: str) -> None:
        """Forget a successful attempt and the earlier failures of its username."""
        with self.database.write() as connection:
            connection.execute(delete(LoginAttempt).where(
                or_(LoginAttempt.id == attempt_id, LoginAttempt.username == username.lower())))

    def purge(self) -> int:
        """Delete the attempts that have left the window; return how many."""
        cutoff = self.clock() - self.limits.window
        deleted = 0
        while True:
            batch = (select(LoginAttempt.id).where(LoginAttempt.at <= cutoff)
                     .limit(PURGE_BATCH).scalar_subquery())
            with self.database.write() as connection:
                count = connection.execute(
                    delete(LoginAttempt).where(LoginAttempt.id.in_(batch))).rowcount
            deleted += count
            if count < PURGE_BATCH:
                return deleted

    def _wait(self, connection: Connection, matches: ColumnElement[bool], limit: int,
              since: datetime, now: datetime) -> int:
        """Return the whole seconds until fewer than ``limit`` recent attempts match, or 0."""
        recent = (LoginAttempt.at > since) & matches
        count = connection.execute(
            select(func.count()).select_from(LoginAttempt).where(recent)).scalar_one()
        if count < limit:
            return 0
        # Once the (count - limit + 1) oldest attempts leave the window, one more is allowed.
        freeing = connection.execute(
            select(LoginAttempt.at).where(recent).order_by(LoginAttempt.at)
            .offset(count - limit).limit(1)
        ).scalar_one()
        return max(1, math.ceil((freeing + self.limits.window - now).total_seconds()))


def _lock_keys(connection: Connection, keys: list[str]) -> None:
    """Take PostgreSQL transaction advisory locks on ``keys``, in a fixed order."""
    numbers = sorted({int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big",
                                     signed=True) for key in keys})
    for number in numbers:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": number})


class _ThrottleLog:
    """Logs rejected logins at most once a minute per username and address, with the number
    of rejections in between, so that a flood of attempts cannot flood the log."""

    # Pairs remembered at most; past this the memory is cleared.
    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str | None], tuple[float, int]] = {}

    def throttled(self, username: str, address: str | None, wait: int,
                  limits: LoginLimits) -> None:
        key = (username.lower(), address)
        now = time.monotonic()
        with self._lock:
            if len(self._last) > self.MAX_ENTRIES:
                self._last.clear()
            logged_at, skipped = self._last.get(key, (-math.inf, 0))
            if now - logged_at < LOG_INTERVAL_SECONDS:
                self._last[key] = (logged_at, skipped + 1)
                return
            self._last[key] = (now, 0)
        window = int(limits.window.total_seconds())
        log.warning(
            "rejected a login for username %r from %s: at least %d failures for the username "
            "or %d for the address in %d s; next attempt allowed in %d s (%d more rejected "
            "since the last such line)",
            username, address or "this process", limits.per_username, limits.per_address,
            window, wait, skipped)
