"""Helpers shared by the test suites: a controllable clock and database snapshots."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, select

from desk.backend.models import Balance, LedgerEntry, Trade, User

START = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
PASSWORD = "correct-horse"
_names = itertools.count(1)


class Clock:
    """A clock that advances one millisecond per reading, so every event has its own time."""

    def __init__(self, start: datetime = START) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            self._now += timedelta(milliseconds=1)
            return self._now

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta


def unique_name(prefix: str = "trader") -> str:
    return f"{prefix}{next(_names):04d}"


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Read every user, balance, trade and ledger row of a database, to compare before and after."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {
                "users": [tuple(row) for row in connection.execute(
                    select(User.id, User.username, User.email).order_by(User.id))],
                "balances": [tuple(row) for row in connection.execute(
                    select(Balance).order_by(Balance.user_id, Balance.token_type))],
                "trades": [tuple(row) for row in connection.execute(
                    select(Trade).order_by(Trade.id))],
                "ledger": [tuple(row) for row in connection.execute(
                    select(LedgerEntry).order_by(LedgerEntry.id))],
            }
    finally:
        engine.dispose()
