"""A panel with one asset's price in BTC and USD and its change since the session began."""

from __future__ import annotations

from datetime import datetime, tzinfo

from rich.text import Text
from textual.widgets import Static

from desk.backend.money import BTC
from desk.backend.schemas import Price
from desk.formatting import (
    age_text,
    btc_price_text,
    change_percent,
    change_text,
    clock_text,
    usd_text,
)


class PricePanel(Static, can_focus=True):
    """Shows ``price`` against ``start``, the first price of the session.

    The direction of the change is written with an arrow and a sign as well as coloured, so
    it reads without colour.
    """

    DEFAULT_CSS = """
    PricePanel {
        width: 1fr;
        height: auto;
        border: round $primary-muted;
        padding: 0 1;
    }
    PricePanel:focus { border: round $accent; }
    """

    def __init__(self, asset: str) -> None:
        super().__init__(id=f"price-{asset}")
        self.asset = asset
        self.border_title = asset
        self.update(Text("waiting for prices…", style="dim"))

    def show(self, price: Price, start: Price, now: datetime, zone: tzinfo | None) -> None:
        """Draw the current price, its change since ``start`` and when it was set."""
        text = Text()
        if self.asset == BTC:
            text.append("1 BTC\n", style="bold")
        else:
            text.append(f"{btc_price_text(price.price_btc)} BTC\n", style="bold")
        text.append(f"{usd_text(price.price_usd)}\n")
        change, direction = change_text(change_percent(start.price_usd, price.price_usd))
        text.append(change, style=self._colour(direction))
        text.append("\n")
        updated = clock_text(price.last_updated, zone)
        text.append(f"at {updated} · {age_text(price.last_updated, now)} ago", style="dim")
        self.update(text)

    def _colour(self, direction: str) -> str:
        variables = self.app.theme_variables
        if direction == "up":
            return f"bold {variables.get('text-success', 'green')}"
        if direction == "down":
            return f"bold {variables.get('text-error', 'red')}"
        return "bold"
