"""The portfolio table: each asset's available, held and total amounts and their value."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from rich.text import Text

from desk.backend.money import BTC, multiply, round_down, truncate
from desk.backend.schemas import Portfolio, Price
from desk.formatting import amount_text, share_text, usd_text
from desk.widgets.table import KeyedTable, Row, right

COLUMNS = (
    ("asset", "Asset"),
    ("available", "Available"),
    ("held", "Held"),
    ("total", "Total"),
    ("value_btc", "Value BTC"),
    ("value_usd", "Value USD"),
    ("share", "Share"),
)


def portfolio_value(portfolio: Portfolio, prices: Mapping[str, Price]) -> tuple[Decimal, Decimal]:
    """Return the total value of ``portfolio`` in BTC and USD at ``prices``.

    It is rounded as the market rounds its own totals: down to a satoshi and to the cent. An
    asset without a price counts as nothing.
    """
    total_btc = total_usd = Decimal(0)
    for balance in portfolio.balances:
        price = prices.get(balance.token_type)
        if price is not None:
            total_btc += multiply(balance.balance, price.price_btc)
            total_usd += multiply(balance.balance, price.price_usd)
    return round_down(total_btc, BTC), truncate(total_usd, 2)


class BalanceTable(KeyedTable):
    """One row per asset; values at the prices given, shares of the portfolio's BTC value."""

    left_columns = frozenset({"asset"})

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(COLUMNS, id=id)

    @staticmethod
    def rows(portfolio: Portfolio, prices: Mapping[str, Price]) -> list[Row]:
        """Return the table's rows for ``portfolio`` valued at ``prices``."""
        values: dict[str, tuple[Decimal, Decimal] | None] = {}
        for balance in portfolio.balances:
            price = prices.get(balance.token_type)
            if price is None:
                values[balance.token_type] = None
                continue
            values[balance.token_type] = (
                round_down(multiply(balance.balance, price.price_btc), BTC),
                truncate(multiply(balance.balance, price.price_usd), 2),
            )
        whole = sum((value[0] for value in values.values() if value), Decimal(0))

        rows: list[Row] = []
        for balance in portfolio.balances:
            asset = balance.token_type
            value = values[asset]
            held_style = "" if balance.held else "dim"
            cells = [
                Text(asset, style="bold"),
                right(amount_text(balance.available, asset)),
                right(amount_text(balance.held, asset), held_style),
                right(amount_text(balance.balance, asset)),
                right(amount_text(value[0], BTC) if value else "no price"),
                right(usd_text(value[1]) if value else "—"),
                right(share_text(value[0], whole) if value else "—"),
            ]
            rows.append((asset, cells))
        return rows
