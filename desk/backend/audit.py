"""Invariant checks over a whole market database.

Each check returns whether it passed and, if not, the first offending rows. Tests run them after
every step; ``desk audit`` prints them for an operator.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Connection, case, func, select

from desk.backend.models import Balance, LedgerEntry, Trade
from desk.backend.money import from_minor, to_minor
from desk.backend.store import Database
from desk.backend.trading import payment_for

# How many offending rows a failed check reports.
MAX_PROBLEMS = 10


@dataclass
class Check:
    """The result of one invariant check."""

    name: str
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def audit(database: Database) -> list[Check]:
    """Run every invariant check in one consistent read of the database.

    The checks read one snapshot, so a market that keeps trading meanwhile still passes.
    """
    with database.snapshot() as connection:
        return [
            _no_negative_balance(connection),
            _totals_conserved(connection),
            _ledger_matches_balances(connection),
            _held_matches_offers(connection),
            _completed_trades_match_ledger(connection),
        ]


def _no_negative_balance(connection: Connection) -> Check:
    check = Check("no balance is negative and no hold exceeds its balance")
    rows = connection.execute(
        select(Balance.user_id, Balance.token_type, Balance.balance, Balance.held)
        .where((Balance.held < 0) | (Balance.balance < Balance.held))
        .limit(MAX_PROBLEMS)
    ).all()
    for row in rows:
        check.problems.append(
            f"user {row.user_id} {row.token_type}: balance {row.balance}, held {row.held} "
            "(smallest units)"
        )
    return check


def _totals_conserved(connection: Connection) -> Check:
    """Per asset, all transfers net to zero, so the total held by all accounts is the issuance."""
    check = Check("per-asset totals equal issuance (transfers net to zero)")
    issued = func.sum(case((LedgerEntry.reason == "issuance", LedgerEntry.amount), else_=0))
    moved = func.sum(case((LedgerEntry.reason != "issuance", LedgerEntry.amount), else_=0))
    ledger = {
        row.token_type: (row.issued or 0, row.moved or 0)
        for row in connection.execute(
            select(LedgerEntry.token_type, issued.label("issued"), moved.label("moved"))
            .group_by(LedgerEntry.token_type)
        )
    }
    totals = {
        row.token_type: row.total
        for row in connection.execute(
            select(Balance.token_type, func.sum(Balance.balance).label("total"))
            .group_by(Balance.token_type)
        )
    }
    for asset in sorted(set(ledger) | set(totals)):
        issued_total, moved_total = ledger.get(asset, (0, 0))
        held_total = totals.get(asset) or 0
        if moved_total != 0:
            check.problems.append(
                f"{asset}: transfers sum to {from_minor(moved_total, asset)}, not zero"
            )
        if held_total != issued_total:
            check.problems.append(
                f"{asset}: accounts hold {from_minor(held_total, asset)}, "
                f"issued {from_minor(issued_total, asset)}"
            )
    return check


def _ledger_matches_balances(connection: Connection) -> Check:
    check = Check("every balance equals the sum of its ledger entries")
    sums = (
        select(LedgerEntry.user_id, LedgerEntry.token_type,
               func.sum(LedgerEntry.amount).label("total"))
        .group_by(LedgerEntry.user_id, LedgerEntry.token_type)
        .subquery()
    )
    rows = connection.execute(
        select(Balance.user_id, Balance.token_type, Balance.balance, sums.c.total)
        .outerjoin(sums, (sums.c.user_id == Balance.user_id)
                   & (sums.c.token_type == Balance.token_type))
        .where(Balance.balance != func.coalesce(sums.c.total, 0))
        .limit(MAX_PROBLEMS)
    ).all()
    for row in rows:
        check.problems.append(
            f"user {row.user_id} {row.token_type}: balance {row.balance}, "
            f"ledger {row.total or 0} (smallest units)"
        )
    orphans = connection.execute(
        select(sums.c.user_id, sums.c.token_type)
        .outerjoin(Balance, (sums.c.user_id == Balance.user_id)
                   & (sums.c.token_type == Balance.token_type))
        .where(Balance.user_id.is_(None))
        .limit(MAX_PROBLEMS)
    ).all()
    for row in orphans:
        check.problems.append(f"user {row.user_id} {row.token_type}: ledger entries, no balance")
    return check


def _held_matches_offers(connection: Connection) -> Check:
    check = Check("every hold equals the sum of the account's active offers")
    offers = (
        select(Trade.creator_id, Trade.from_token, func.sum(Trade.amount).label("total"))
        .where(Trade.status == "active")
        .group_by(Trade.creator_id, Trade.from_token)
        .subquery()
    )
    rows = connection.execute(
        select(Balance.user_id, Balance.token_type, Balance.held, offers.c.total)
        .outerjoin(offers, (offers.c.creator_id == Balance.user_id)
                   & (offers.c.from_token == Balance.token_type))
        .where(Balance.held != func.coalesce(offers.c.total, 0))
        .limit(MAX_PROBLEMS)
    ).all()
    for row in rows:
        check.problems.append(
            f"user {row.user_id} {row.token_type}: held {row.held}, "
            f"active offers {row.total or 0} (smallest units)"
        )
    return check


def _completed_trades_match_ledger(connection: Connection) -> Check:
    """Check that each completed trade moved exactly its amount and payment between its parties."""
    check = Check("every completed trade matches its ledger entries")
    entries: dict[str, dict[tuple[int, str], int]] = defaultdict(lambda: defaultdict(int))
    for row in connection.execute(
        select(LedgerEntry.reference, LedgerEntry.user_id, LedgerEntry.token_type,
               LedgerEntry.amount)
        .where(LedgerEntry.reference.like("trade:%"))
    ):
        entries[row.reference][(row.user_id, row.token_type)] += row.amount

    trades = connection.execute(
        select(Trade.id, Trade.creator_id, Trade.executor_id, Trade.from_token, Trade.to_token,
               Trade.amount, Trade.exchange_rate, Trade.status)
    )
    for trade in trades:
        found = dict(entries.pop(f"trade:{trade.id}", {}))
        expected: dict[tuple[int, str], int] = {}
        if trade.status == "completed":
            payment = to_minor(
                payment_for(from_minor(trade.amount, trade.from_token), trade.exchange_rate,
                            trade.to_token),
                trade.to_token,
            )
            expected = {
                (trade.creator_id, trade.from_token): -trade.amount,
                (trade.executor_id, trade.from_token): trade.amount,
                (trade.executor_id, trade.to_token): -payment,
                (trade.creator_id, trade.to_token): payment,
            }
        if found != expected and len(check.problems) < MAX_PROBLEMS:
            check.problems.append(
                f"trade {trade.id} ({trade.status}): ledger {found}, expected {expected}"
            )
    for reference in list(entries)[: MAX_PROBLEMS - len(check.problems)]:
        check.problems.append(f"ledger entries for {reference}, which is not a trade")
    return check
