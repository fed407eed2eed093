"""Peer-to-peer offers: create with escrow, list the book, execute atomically, cancel, history."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    Select,
    bindparam,
    func,
    insert,
    literal,
    select,
    tuple_,
    update,
)

from desk.backend import schemas
from desk.backend.errors import (
    Conflict,
    Forbidden,
    InsufficientFunds,
    InvalidInput,
    LimitExceeded,
    NotFound,
)
from desk.backend.ledger import Change, Shortfall, apply_changes
from desk.backend.models import MAX_ID, Trade, User
from desk.backend.money import (
    MAX_AMOUNT,
    check_asset,
    format_amount,
    from_minor,
    multiply,
    parse_amount,
    parse_rate,
    round_down,
    to_minor,
)
from desk.backend.pagination import (
    check_limit,
    decode_id_cursor,
    decode_time_cursor,
    encode_cursor,
)
from desk.backend.store import Database

# Active offers one trader may have at a time; each one escrows funds and adds a row to the book.
DEFAULT_MAX_OPEN_OFFERS = 200

# Statements built once, because building a statement and its cache key on every call was a
# large part of the cost of executing an offer.
_TRADE_BY_ID = select(Trade).where(Trade.id == bindparam("trade_id"))
_LOCK_TRADE = _TRADE_BY_ID.with_for_update()
# Checks and closes an offer in one statement: it matches only an active offer of someone
# other than the taker, and returns the closed row.
_TAKE_TRADE = (
    update(Trade)
    .where(Trade.id == bindparam("trade_id"), Trade.status == "active",
           Trade.creator_id != bindparam("taker_id"))
    .values(status="completed", completed_at=bindparam("closed_at"),
            executor_id=bindparam("taker_id"))
    .returning(*Trade.__table__.columns)
)
_CANCEL_TRADE = (
    update(Trade)
    .where(Trade.id == bindparam("trade_id"), Trade.status == "active")
    .values(status="cancelled", completed_at=bindparam("closed_at"))
    .returning(*Trade.__table__.columns)
)


def payment_for(amount: Decimal, exchange_rate: Decimal, to_token: str) -> Decimal:
    """Return what a taker pays: ``amount × rate``, rounded down to ``to_token``'s precision."""
    return round_down(multiply(amount, exchange_rate), to_token)


def trade_model(row: Row[Any]) -> schemas.Trade:
    return schemas.Trade(
        id=row.id,
        creator_id=row.creator_id,
        from_token=row.from_token,
        to_token=row.to_token,
        amount=from_minor(row.amount, row.from_token),
        exchange_rate=row.exchange_rate,
        status=row.status,
        created_at=row.created_at,
        completed_at=row.completed_at,
        executor_id=row.executor_id,
    )


def check_trade_id(trade_id: object) -> int:
    if isinstance(trade_id, bool) or not isinstance(trade_id, int) or not 0 < trade_id < 2**63:
        raise InvalidInput("trade_id", f"must be a positive whole number, got {trade_id!r}")
    return trade_id


def _check_stored_id(trade_id: int) -> None:
    """Raise ``NotFound`` for an id that no row can have, before PostgreSQL fails on it."""
    if trade_id > MAX_ID:
        raise NotFound(f"trade {trade_id} not found")


def create_offer(
    database: Database,
    now: datetime,
    user_id: int,
    from_token: object,
    to_token: object,
    amount: object,
    exchange_rate: object,
    *,
    max_open_offers: int = DEFAULT_MAX_OPEN_OFFERS,
) -> schemas.Trade:
    """Post an offer and hold its amount out of the creator's available balance.

    Raises ``LimitExceeded`` if the creator already has ``max_open_offers`` active offers.
    """
    source = check_asset(from_token, "from_token")
    target = check_asset(to_token, "to_token")
    if source == target:
        raise InvalidInput("to_token", f"must differ from from_token; both are {source}")
    quantity = parse_amount(amount, source)
    rate = parse_rate(exchange_rate)
    payment = payment_for(quantity, rate, target)
    if payment <= 0:
        raise InvalidInput(
            "exchange_rate",
            f"a taker would pay nothing: {quantity} x {rate} rounds down to 0 {target}",
        )
    if payment > MAX_AMOUNT:
        raise InvalidInput(
            "exchange_rate", f"a taker would pay {format_amount(payment, target)} {target}, "
                             f"above the maximum of {MAX_AMOUNT:,.0f}"
        )

    minor = to_minor(quantity, source)
    with database.write() as connection:
        _check_open_offers(connection, user_id, max_open_offers)
        trade_id = connection.execute(
            insert(Trade)
            .values(creator_id=user_id, from_token=source, to_token=target, amount=minor,
                    exchange_rate=rate, status="active", created_at=now)
            .returning(Trade.id)
        ).scalar_one()
        hold = Change(user_id, source, held=minor, reason="offer")
        apply_changes(connection, [hold], f"trade:{trade_id}", now)
        return trade_model(_load(connection, trade_id))


def execute_offer(database: Database, now: datetime, user_id: int,
                  trade_id: object) -> schemas.Trade:
    """Take an active offer of another trader in one transaction.

    Exactly one of any number of concurrent executions succeeds. The status change is guarded
    by ``status = 'active'`` and runs under a lock: the immediate write lock on SQLite, the
    row lock that the UPDATE takes on PostgreSQL. A second taker therefore finds the offer
    completed. The trade row is locked before the balance rows.
    """
    trade_id = check_trade_id(trade_id)
    _check_stored_id(trade_id)
    with database.write() as connection:
        trade = _take(connection, trade_id, user_id, now)

        amount = trade.amount
        payment = to_minor(
            payment_for(from_minor(amount, trade.from_token), trade.exchange_rate, trade.to_token),
            trade.to_token,
        )
        changes = [
            Change(user_id, trade.to_token, balance=-payment, reason="trade_paid"),
            Change(trade.creator_id, trade.to_token, balance=payment, reason="trade_received"),
            Change(trade.creator_id, trade.from_token, balance=-amount, held=-amount,
                   reason="trade_sold"),
            Change(user_id, trade.from_token, balance=amount, reason="trade_bought"),
        ]
        try:
            apply_changes(connection, changes, f"trade:{trade_id}", now)
        except Shortfall as shortfall:
            # Only the taker's payment can fall short: the creator's side is held in escrow.
            asset = shortfall.asset
            raise InsufficientFunds(
                f"cannot take trade {trade_id}: it costs "
                f"{format_amount(shortfall.required, asset)} {asset} and you have "
                f"{format_amount(shortfall.available, asset)} {asset} available"
            ) from None
        return trade_model(trade)


def cancel_offer(database: Database, now: datetime, user_id: int,
                 trade_id: object) -> schemas.Trade:
    """Withdraw an active offer of the caller's and release its hold."""
    trade_id = check_trade_id(trade_id)
    _check_stored_id(trade_id)
    with database.write() as connection:
        trade = _lock(connection, trade_id)
        if trade.creator_id != user_id:
            raise Forbidden(f"trade {trade_id} is not your offer; only its creator can cancel it")
        _require_active(trade)
        closed = _cancel(connection, trade_id, now)
        release = Change(user_id, trade.from_token, held=-trade.amount, reason="offer")
        apply_changes(connection, [release], f"trade:{trade_id}", now)
        return trade_model(closed)


def list_offers(
    database: Database,
    user_id: int,
    from_token: object = None,
    to_token: object = None,
    mine: bool = False,
    limit: object = 50,
    cursor: str | None = None,
) -> schemas.TradePage:
    """Return a page of active offers, oldest first (first come, first served)."""
    limit = check_limit(limit)
    after = decode_id_cursor(cursor)
    query = select(Trade).where(Trade.status == "active")
    if from_token is not None:
        query = query.where(Trade.from_token == check_asset(from_token, "from_token"))
    if to_token is not None:
        query = query.where(Trade.to_token == check_asset(to_token, "to_token"))
    if mine:
        query = query.where(Trade.creator_id == user_id)
    if after is not None:
        query = query.where(Trade.id > after)
    query = query.order_by(Trade.id).limit(limit + 1)
    with database.read() as connection:
        rows = connection.execute(query).all()
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1].id) if len(rows) > limit else None
    return schemas.TradePage(trades=[trade_model(row) for row in page], next_cursor=next_cursor)


def history(database: Database, user_id: int, limit: object = 50,
            cursor: str | None = None) -> schemas.TradePage:
    """Return completed and cancelled trades the caller created or took, newest first.

    The creator side and the taker side are read with one indexed query each and merged, so
    a page costs the same however long the caller's history is.
    """
    limit = check_limit(limit)
    before = decode_time_cursor(cursor)
    sides = [
        _closed(Trade.creator_id == user_id, before, limit),
        _closed(Trade.executor_id == user_id, before, limit),
    ]
    with database.read() as connection:
        rows = {row.id: row for query in sides for row in connection.execute(query)}
    ordered = sorted(rows.values(), key=lambda row: (row.completed_at, row.id), reverse=True)
    page = ordered[:limit]
    next_cursor = None
    if len(ordered) > limit:
        next_cursor = encode_cursor(page[-1].completed_at, page[-1].id)
    return schemas.TradePage(trades=[trade_model(row) for row in page], next_cursor=next_cursor)


def _closed(side: Any, before: tuple[datetime, int] | None, limit: int) -> Select[Any]:
    query = select(Trade).where(side, Trade.completed_at.is_not(None))
    if before is not None:
        moment, trade_id = before
        key = tuple_(literal(moment, Trade.completed_at.type), literal(trade_id, Trade.id.type))
        query = query.where(tuple_(Trade.completed_at, Trade.id) < key)
    return query.order_by(Trade.completed_at.desc(), Trade.id.desc()).limit(limit + 1)


def _check_open_offers(connection: Connection, user_id: int, limit: int) -> None:
    # FOR NO KEY UPDATE on PostgreSQL: concurrent offers of one creator are counted one after
    # the other, and the foreign-key checks of other writers (FOR KEY SHARE) do not conflict
    # with this lock.
    connection.execute(select(User.id).where(User.id == user_id).with_for_update(key_share=True))
    count = connection.execute(
        select(func.count()).select_from(Trade)
        .where(Trade.creator_id == user_id, Trade.status == "active")
    ).scalar_one()
    if count >= limit:
        raise LimitExceeded(
            f"you have {count} open offers, the maximum of {limit} per trader; cancel one or "
            "wait until one is taken before posting another"
        )


def _lock(connection: Connection, trade_id: int) -> Row[Any]:
    row = connection.execute(_LOCK_TRADE, {"trade_id": trade_id}).one_or_none()
    if row is None:
        raise NotFound(f"trade {trade_id} not found")
    return row


def _load(connection: Connection, trade_id: int) -> Row[Any]:
    return connection.execute(_TRADE_BY_ID, {"trade_id": trade_id}).one()


def _take(connection: Connection, trade_id: int, taker_id: int, now: datetime) -> Row[Any]:
    """Close an active offer of another trader as completed by ``taker_id``; return its row.

    One guarded UPDATE checks and closes the offer. Only when it changes nothing is the trade
    read, to raise the error that explains why: not found, the taker's own, or not active.
    """
    parameters = {"trade_id": trade_id, "taker_id": taker_id, "closed_at": now}
    row = connection.execute(_TAKE_TRADE, parameters).one_or_none()
    if row is not None:
        return row
    trade = _lock(connection, trade_id)
    if trade.creator_id == taker_id:
        raise Forbidden(f"trade {trade_id} is your own offer; cancel it instead")
    _require_active(trade)
    raise Conflict(f"trade {trade_id} is no longer active")


def _require_active(trade: Row[Any]) -> None:
    if trade.status != "active":
        raise Conflict(f"trade {trade.id} is {trade.status}, no longer active")


def _cancel(connection: Connection, trade_id: int, now: datetime) -> Row[Any]:
    parameters = {"trade_id": trade_id, "closed_at": now}
    row = connection.execute(_CANCEL_TRADE, parameters).one_or_none()
    if row is None:
        raise Conflict(f"trade {trade_id} is no longer active")
    return row
