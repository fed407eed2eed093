"""Conversions at the market price, with the house account as the counterparty."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import insert

from desk.backend import schemas
from desk.backend.accounts import house_id
from desk.backend.errors import InsufficientFunds, InvalidInput
from desk.backend.ledger import Change, Shortfall, apply_changes
from desk.backend.models import Conversion
from desk.backend.money import (
    BTC,
    check_asset,
    divide,
    format_amount,
    multiply,
    parse_amount,
    round_down,
    to_minor,
)
from desk.backend.pricing import price_map, price_of
from desk.backend.store import Database


def quote(amount: Decimal, from_token: str, to_token: str,
          prices: dict[str, schemas.Price]) -> tuple[Decimal, Decimal]:
    """Return (received, price_btc) for converting ``amount`` at the given prices.

    The value passes through BTC: ``amount × price_btc(from) / price_btc(to)``, rounded down
    once, at the end, to the precision of ``to_token``. ``price_btc`` is the BTC price of the AI
    token side (of ``from_token`` when both sides are AI tokens).
    """
    source = price_of(prices, from_token).price_btc
    target = price_of(prices, to_token).price_btc
    received = round_down(divide(multiply(amount, source), target), to_token)
    quoted = target if from_token == BTC else source
    return received, quoted


def convert(database: Database, now: datetime, user_id: int, from_token: object,
            to_token: object, amount: object) -> schemas.Conversion:
    """Sell ``amount`` of ``from_token`` to the house for ``to_token`` at the market price."""
    source = check_asset(from_token, "from_token")
    target = check_asset(to_token, "to_token")
    if source == target:
        raise InvalidInput("to_token", f"must differ from from_token; both are {source}")
    quantity = parse_amount(amount, source)

    with database.write() as connection:
        received, price_btc = quote(quantity, source, target, price_map(connection))
        if received <= 0:
            raise InvalidInput(
                "amount", f"{quantity} {source} is worth less than the smallest unit of {target}"
            )
        house = house_id(connection)
        paid, got = to_minor(quantity, source), to_minor(received, target)
        conversion_id = connection.execute(
            insert(Conversion)
            .values(user_id=user_id, from_token=source, to_token=target, amount=paid,
                    received=got, price_btc=price_btc, created_at=now)
            .returning(Conversion.id)
        ).scalar_one()
        changes = [
            Change(user_id, source, balance=-paid, reason="convert"),
            Change(house, source, balance=paid, reason="convert"),
            Change(house, target, balance=-got, reason="convert"),
            Change(user_id, target, balance=got, reason="convert"),
        ]
        try:
            apply_changes(connection, changes, f"conversion:{conversion_id}", now)
        except Shortfall as shortfall:
            if shortfall.user_id == house:
                raise InsufficientFunds(
                    f"the market cannot pay {format_amount(received, target)} {target} right "
                    "now; try a smaller amount"
                ) from None
            raise
    return schemas.Conversion(from_token=source, to_token=target, amount=quantity,
                              received=received, price_btc=price_btc)
