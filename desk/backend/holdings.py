"""A trader's holdings: balances valued at market prices, the ledger, and the asset list."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Connection, select

from desk.backend import schemas
from desk.backend.models import Balance, LedgerEntry, TokenType
from desk.backend.money import BTC, from_minor, multiply, round_down, truncate
from desk.backend.pagination import check_limit, decode_id_cursor, encode_cursor
from desk.backend.pricing import price_map

USD_TOTAL_PLACES = 2


def token_types(connection: Connection) -> list[schemas.TokenInfo]:
    rows = connection.execute(
        select(TokenType.token_type, TokenType.description).order_by(TokenType.position)
    ).all()
    return [schemas.TokenInfo(token_type=row.token_type, description=row.description)
            for row in rows]


def balances(connection: Connection, user_id: int) -> list[schemas.Balance]:
    """Return the user's balance of every asset, in the market's display order."""
    rows = connection.execute(
        select(Balance.token_type, Balance.balance, Balance.held)
        .join(TokenType, TokenType.token_type == Balance.token_type)
        .where(Balance.user_id == user_id)
        .order_by(TokenType.position)
    ).all()
    return [
        schemas.Balance(token_type=row.token_type,
                        balance=from_minor(row.balance, row.token_type),
                        held=from_minor(row.held, row.token_type),
                        available=from_minor(row.balance - row.held, row.token_type))
        for row in rows
    ]


def portfolio(connection: Connection, user_id: int) -> schemas.Portfolio:
    """Return every balance of the user and the total value, rounded down, in BTC and USD."""
    held = balances(connection, user_id)
    prices = price_map(connection)
    total_btc = total_usd = Decimal(0)
    for entry in held:
        price = prices.get(entry.token_type)
        if price is not None:
            total_btc += multiply(entry.balance, price.price_btc)
            total_usd += multiply(entry.balance, price.price_usd)
    return schemas.Portfolio(
        balances=held,
        total_btc=round_down(total_btc, BTC),
        total_usd=truncate(total_usd, USD_TOTAL_PLACES),
    )


def ledger_page(connection: Connection, user_id: int, limit: object = 50,
                cursor: str | None = None) -> schemas.LedgerPage:
    """Return a page of the user's balance changes, newest first."""
    limit = check_limit(limit)
    before = decode_id_cursor(cursor)
    query = select(LedgerEntry).where(LedgerEntry.user_id == user_id)
    if before is not None:
        query = query.where(LedgerEntry.id < before)
    rows = connection.execute(query.order_by(LedgerEntry.id.desc()).limit(limit + 1)).all()
    page = rows[:limit]
    entries = [
        schemas.LedgerEntry(id=row.id, token_type=row.token_type,
                            amount=from_minor(row.amount, row.token_type), reason=row.reason,
                            reference=row.reference, created_at=row.created_at)
        for row in page
    ]
    next_cursor = encode_cursor(page[-1].id) if len(rows) > limit else None
    return schemas.LedgerPage(entries=entries, next_cursor=next_cursor)
