"""CSV files of the desk's tables, written with exact decimals and ISO 8601 times."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from desk.backend.schemas import LedgerEntry, Trade

TRADE_HEADER = ("id", "status", "from_token", "to_token", "amount", "exchange_rate", "payment",
                "creator_id", "executor_id", "created_at", "completed_at")
LEDGER_HEADER = ("id", "token_type", "amount", "reason", "reference", "created_at")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def trade_rows(trades: Iterable[Trade]) -> list[tuple[object, ...]]:
    from desk.backend.trading import payment_for

    return [
        (trade.id, trade.status, trade.from_token, trade.to_token, trade.amount,
         trade.exchange_rate, payment_for(trade.amount, trade.exchange_rate, trade.to_token),
         trade.creator_id, trade.executor_id, trade.created_at, trade.completed_at)
        for trade in trades
    ]


def ledger_rows(entries: Iterable[LedgerEntry]) -> list[tuple[object, ...]]:
    return [(entry.id, entry.token_type, entry.amount, entry.reason, entry.reference,
             entry.created_at) for entry in entries]


def export_file(folder: Path, stem: str, now: datetime) -> Path:
    """Return a new file path in ``folder`` named after ``stem`` and the time, never reused."""
    base = f"{stem}-{now.strftime('%Y%m%d-%H%M%S')}"
    path = folder / f"{base}.csv"
    number = 2
    while path.exists():
        path = folder / f"{base}-{number}.csv"
        number += 1
    return path


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """Write ``rows`` under ``header`` to a new file at ``path``; return the row count."""
    count = 0
    with path.open("x", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow([_cell(value) for value in row])
            count += 1
    return count
