"""Market prices: current prices, their history, and storing a new tick of the price feed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, delete, insert, select, update

from desk.backend import schemas
from desk.backend.errors import NotFound
from desk.backend.models import MarketPrice, PricePoint, TokenType
from desk.backend.money import check_asset
from desk.backend.pagination import check_limit

DEFAULT_HISTORY_LIMIT = 100
MAX_HISTORY_LIMIT = 1000


def current_prices(connection: Connection) -> list[schemas.Price]:
    """Return the price of every asset, in the market's display order."""
    rows = connection.execute(
        select(MarketPrice)
        .join(TokenType, TokenType.token_type == MarketPrice.token_type)
        .order_by(TokenType.position)
    ).all()
    return [
        schemas.Price(token_type=row.token_type, price_btc=row.price_btc,
                      price_usd=row.price_usd, last_updated=row.last_updated)
        for row in rows
    ]


def price_map(connection: Connection) -> dict[str, schemas.Price]:
    return {price.token_type: price for price in current_prices(connection)}


def price_of(prices: Mapping[str, schemas.Price], asset: str) -> schemas.Price:
    try:
        return prices[asset]
    except KeyError:
        raise NotFound(f"no market price for {asset}; run 'desk init-db' to seed prices") from None


def recent_history(connection: Connection, token_type: object,
                   limit: object = DEFAULT_HISTORY_LIMIT) -> list[schemas.PricePoint]:
    """Return the latest ``limit`` price points of one asset, oldest first."""
    asset = check_asset(token_type, "token_type")
    count = check_limit(limit, MAX_HISTORY_LIMIT)
    rows = connection.execute(
        select(PricePoint.price_btc, PricePoint.price_usd, PricePoint.at)
        .where(PricePoint.token_type == asset)
        .order_by(PricePoint.id.desc())
        .limit(count)
    ).all()
    return [schemas.PricePoint(price_btc=row.price_btc, price_usd=row.price_usd, at=row.at)
            for row in reversed(rows)]


def store_prices(connection: Connection, prices: Mapping[str, tuple[Decimal, Decimal]],
                 now: datetime, keep: int | None = None) -> None:
    """Set the current (BTC, USD) price of each asset and append it to the history.

    With ``keep``, older history points beyond the latest ``keep`` per asset are deleted.
    """
    for asset, (price_btc, price_usd) in prices.items():
        connection.execute(
            update(MarketPrice)
            .where(MarketPrice.token_type == asset)
            .values(price_btc=price_btc, price_usd=price_usd, last_updated=now)
        )
    connection.execute(
        insert(PricePoint),
        [{"token_type": asset, "price_btc": btc, "price_usd": usd, "at": now}
         for asset, (btc, usd) in prices.items()],
    )
    if keep is not None:
        for asset in prices:
            _trim_history(connection, asset, keep)


def _trim_history(connection: Connection, asset: str, keep: int) -> None:
    oldest_kept = connection.execute(
        select(PricePoint.id)
        .where(PricePoint.token_type == asset)
        .order_by(PricePoint.id.desc())
        .offset(keep - 1)
        .limit(1)
    ).scalar_one_or_none()
    if oldest_kept is not None:
        connection.execute(
            delete(PricePoint).where(PricePoint.token_type == asset, PricePoint.id < oldest_kept)
        )
