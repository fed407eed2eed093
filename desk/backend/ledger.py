"""Balance changes: the one place where balances are written, each change with its ledger entry.

Callers run ``apply_changes`` inside a write transaction. It locks the touched balance rows in
one fixed order (user id, then asset) so that two transactions touching the same accounts
cannot deadlock on PostgreSQL; on SQLite the ``BEGIN IMMEDIATE`` of the write transaction
already serialises writers, and SQLAlchemy leaves ``FOR UPDATE`` out there. With the rows
locked, the checks below read values that no other transaction can change before the UPDATE.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import Connection, Select, and_, bindparam, insert, or_, select, update

from desk.backend.errors import InsufficientFunds
from desk.backend.models import Balance, LedgerEntry
from desk.backend.money import ASSETS, format_amount, from_minor

# Statements built once, because building a statement and its cache key on every call took
# about a quarter of the time of executing an offer (bench/execute.py under pyinstrument).
_UPDATE_BALANCE = (
    update(Balance)
    .where(Balance.user_id == bindparam("uid"), Balance.token_type == bindparam("asset"))
    .values(balance=bindparam("new_balance"), held=bindparam("new_held"))
)
_INSERT_ENTRY = insert(LedgerEntry)


@dataclass(frozen=True)
class Change:
    """A signed change of one account's holding of one asset, in the asset's smallest unit.

    ``balance`` changes what the account owns and is written to the ledger; ``held`` moves
    part of it in or out of escrow and changes no ownership.
    """

    user_id: int
    asset: str
    balance: int = 0
    held: int = 0
    reason: str = ""


class Shortfall(InsufficientFunds):
    """An account's available balance does not cover a change."""

    def __init__(self, user_id: int, asset: str, available: int, required: int) -> None:
        self.user_id = user_id
        self.asset = asset
        self.available = from_minor(available, asset)
        self.required = from_minor(required, asset)
        super().__init__(
            f"insufficient {asset}: {format_amount(self.available, asset)} available, "
            f"{format_amount(self.required, asset)} needed"
        )


def create_accounts(connection: Connection, user_id: int) -> None:
    """Insert a zero balance of every asset for a new account."""
    connection.execute(
        insert(Balance),
        [{"user_id": user_id, "token_type": asset, "balance": 0, "held": 0} for asset in ASSETS],
    )


def apply_changes(
    connection: Connection, changes: Sequence[Change], reference: str, now: datetime
) -> None:
    """Apply ``changes`` atomically, or raise ``Shortfall`` and write nothing.

    Several changes to one account and asset add up. Raises ``Shortfall`` if any account would
    end with less available than zero or a negative hold.
    """
    totals = _sum_changes(changes)
    keys = sorted(totals)
    current = lock_balances(connection, keys)

    updates = []
    for key in keys:
        balance, held = current.get(key, (0, 0))
        change_balance, change_held = totals[key]
        new_balance, new_held = balance + change_balance, held + change_held
        if new_held < 0 or new_balance - new_held < 0:
            required = -(change_balance - change_held)
            raise Shortfall(key[0], key[1], balance - held, required)
        updates.append({"uid": key[0], "asset": key[1], "new_balance": new_balance,
                        "new_held": new_held})

    connection.execute(_UPDATE_BALANCE, updates)
    entries = [
        {"user_id": change.user_id, "token_type": change.asset, "amount": change.balance,
         "reason": change.reason, "reference": reference, "created_at": now}
        for change in changes
        if change.balance != 0
    ]
    if entries:
        connection.execute(_INSERT_ENTRY, entries)


@cache
def _lock_statement(count: int) -> Select[tuple[int, str, int, int]]:
    """Build the statement that locks ``count`` balance rows, bound as user_N and asset_N.

    Each key is its own primary-key lookup. SQLite 3.40 reads the whole table for the
    row-value form "(user_id, token_type) IN (VALUES ...)", so that form costs more with every
    account. ORDER BY makes PostgreSQL lock the rows in key order.
    """
    match = or_(*(
        and_(Balance.user_id == bindparam(f"user_{index}"),
             Balance.token_type == bindparam(f"asset_{index}"))
        for index in range(count)
    ))
    return (
        select(Balance.user_id, Balance.token_type, Balance.balance, Balance.held)
        .where(match)
        .order_by(Balance.user_id, Balance.token_type)
        .with_for_update()
    )


def _sum_changes(changes: Iterable[Change]) -> dict[tuple[int, str], tuple[int, int]]:
    totals: dict[tuple[int, str], tuple[int, int]] = {}
    for change in changes:
        key = (change.user_id, change.asset)
        balance, held = totals.get(key, (0, 0))
        totals[key] = (balance + change.balance, held + change.held)
    return totals


def lock_balances(
    connection: Connection, keys: list[tuple[int, str]]
) -> dict[tuple[int, str], tuple[int, int]]:
    """Lock the balance rows of ``keys`` in key order; return their (balance, held) counts.

    Rows that do not exist yet are created with zeros and left out of the result.
    """
    parameters = {}
    for index, (user_id, asset) in enumerate(keys):
        parameters[f"user_{index}"] = user_id
        parameters[f"asset_{index}"] = asset
    rows = connection.execute(_lock_statement(len(keys)), parameters).all()
    found = {(row.user_id, row.token_type): (row.balance, row.held) for row in rows}
    missing = [key for key in keys if key not in found]
    if missing:
        connection.execute(
            insert(Balance),
            [{"user_id": uid, "token_type": asset, "balance": 0, "held": 0}
             for uid, asset in missing],
        )
    return found
