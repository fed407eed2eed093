"""The floor for executing offers: plain ``sqlite3`` issuing the statements the market issues.

This module imports nothing of the desk, so that its memory figure is plain Python and SQLite.
Each execution is one ``BEGIN IMMEDIATE`` transaction with the statements that
``desk.backend.trading.execute_offer`` sends, in the same order, as SQLAlchemy renders them:
close the trade and read it back in one guarded UPDATE ... RETURNING, read the four balance
rows in key order, update them, and insert four ledger entries.
tests/test_bench_support.py checks that the two lists stay the same. The checks (own offer,
status, funds) are the market's, done with integers.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal, localcontext

PLACES = {"OpenAI": 6, "Anthropic": 6, "Google": 6, "Cohere": 6, "Mistral": 6, "BTC": 8}
BUSY_TIMEOUT_SECONDS = 30

TAKE_TRADE = (
    "UPDATE trades SET status=?, completed_at=?, executor_id=? "
    "WHERE trades.id = ? AND trades.status = ? AND trades.creator_id != ? "
    "RETURNING id, creator_id, from_token, to_token, amount, exchange_rate, status, "
    "created_at, completed_at, executor_id"
)
READ_TRADE = "SELECT creator_id, status FROM trades WHERE id = ?"
_BALANCE_KEY = "balances.user_id = ? AND balances.token_type = ?"
READ_BALANCES = (
    "SELECT balances.user_id, balances.token_type, balances.balance, balances.held \n"
    f"FROM balances \nWHERE {' OR '.join([_BALANCE_KEY] * 4)} "
    "ORDER BY balances.user_id, balances.token_type"
)
UPDATE_BALANCE = (
    "UPDATE balances SET balance=?, held=? "
    "WHERE balances.user_id = ? AND balances.token_type = ?"
)
INSERT_ENTRY = (
    "INSERT INTO ledger_entries (user_id, token_type, amount, reason, reference, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)


class ExecutionFailed(Exception):
    """An offer could not be executed, so its transaction was rolled back."""


def connect(path: str) -> sqlite3.Connection:
    """Open ``path`` with the PRAGMAs that the market's engine sets on SQLite files."""
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None,
                                 check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
    return connection


def payment(amount: int, rate: str, from_token: str, to_token: str) -> int:
    """Return ``amount × rate`` in ``to_token``'s smallest units, rounded down."""
    with localcontext(prec=80):
        exact = Decimal(amount) * Decimal(rate)
        scaled = exact.scaleb(PLACES[to_token] - PLACES[from_token])
        return int(scaled.to_integral_value(rounding=ROUND_DOWN))


def execute_offer(connection: sqlite3.Connection, taker: int, trade_id: int) -> None:
    """Execute one offer in one transaction, or raise ``ExecutionFailed`` and change nothing."""
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    connection.execute("BEGIN IMMEDIATE")
    try:
        _execute(connection, taker, trade_id, now)
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _execute(connection: sqlite3.Connection, taker: int, trade_id: int, now: str) -> None:
    parameters = ("completed", now, taker, trade_id, "active", taker)
    trade = connection.execute(TAKE_TRADE, parameters).fetchone()
    if trade is None:
        raise ExecutionFailed(_why_not_taken(connection, taker, trade_id))
    _id, creator, from_token, to_token, amount, rate = trade[:6]

    paid = payment(amount, rate, from_token, to_token)
    changes = {
        (taker, to_token): (-paid, 0),
        (creator, to_token): (paid, 0),
        (creator, from_token): (-amount, -amount),
        (taker, from_token): (amount, 0),
    }
    keys = sorted(changes)
    rows = connection.execute(READ_BALANCES, [part for key in keys for part in key]).fetchall()
    current = {(row[0], row[1]): (row[2], row[3]) for row in rows}
    updates = []
    for key in keys:
        balance, held = current[key]
        change_balance, change_held = changes[key]
        new_balance, new_held = balance + change_balance, held + change_held
        if new_held < 0 or new_balance < new_held:
            raise ExecutionFailed(f"insufficient {key[1]} for user {key[0]}")
        updates.append((new_balance, new_held, *key))
    connection.executemany(UPDATE_BALANCE, updates)

    reference = f"trade:{trade_id}"
    connection.executemany(INSERT_ENTRY, [
        (taker, to_token, -paid, "trade_paid", reference, now),
        (creator, to_token, paid, "trade_received", reference, now),
        (creator, from_token, -amount, "trade_sold", reference, now),
        (taker, from_token, amount, "trade_bought", reference, now),
    ])


def _why_not_taken(connection: sqlite3.Connection, taker: int, trade_id: int) -> str:
    row = connection.execute(READ_TRADE, (trade_id,)).fetchone()
    if row is None:
        return f"trade {trade_id} not found"
    creator, status = row
    if creator == taker:
        return f"trade {trade_id} is the taker's own offer"
    return f"trade {trade_id} is {status}"
