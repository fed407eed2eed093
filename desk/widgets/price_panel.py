"""A panel with one asset's price in BTC and USD, its change since the session began, and a
sparkline of its recent USD prices."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, tzinfo

from rich.text import Text
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Sparkline, Static

from desk.backend.money import BTC
from desk.backend.schemas import Price, PricePoint
from desk.formatting import (
    age_text,
    btc_price_text,
    change_percent,
    change_text,
    clock_text,
    usd_text,
)
from desk.widgets.price_history import PriceHistory

SPARKLINE_POINTS = 60
"""How many recent prices a panel's sparkline shows."""


def change_style(widget: Widget, direction: str) -> str:
    """Return the bold theme colour of a change ``direction``: "up", "down" or "flat"."""
    variables = widget.app.theme_variables
    if direction == "up":
        return f"bold {variables.get('text-success', 'green')}"
    if direction == "down":
        return f"bold {variables.get('text-error', 'red')}"
    return "bold"


class PricePanel(Widget, can_focus=True):
    """Shows ``price`` against ``start``, the first price of the session, and recent prices.

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
    PricePanel .price-text { height: 3; }
    PricePanel Sparkline { height: 1; margin: 0; }
    PricePanel .price-time { height: 1; color: $text-muted; }
    """

    def __init__(self, asset: str) -> None:
        super().__init__(id=f"price-{asset}")
        self.asset = asset
        self.border_title = asset
        self.history = PriceHistory(SPARKLINE_POINTS)
        self._sparkline_stale = False

    def compose(self) -> ComposeResult:
        yield Static(Text("waiting for prices…", style="dim"), classes="price-text")
        yield Sparkline([], classes="price-sparkline")
        yield Static("", classes="price-time")

    def seed(self, points: Iterable[PricePoint]) -> None:
        """Start the sparkline from the market's recent prices."""
        self.history.seed(points)
        self._draw_sparkline()

    def show(self, price: Price, start: Price, now: datetime, zone: tzinfo | None, *,
             stale: bool = False) -> None:
        """Draw the current price, its change since ``start`` and when it was set.

        ``stale`` marks a price that may be out of date because the connection or the live
        stream is down.
        """
        text = Text()
        if self.asset == BTC:
            text.append("1 BTC\n", style="bold")
        else:
            text.append(f"{btc_price_text(price.price_btc)} BTC\n", style="bold")
        text.append(f"{usd_text(price.price_usd)}\n")
        change, direction = change_text(change_percent(start.price_usd, price.price_usd))
        text.append(change, style=change_style(self, direction))
        # Every part has a fixed height, so a tick redraws the panel without a new layout of
        # the screen, which would cost more than the rest of the update.
        self.query_one(".price-text", Static).update(text, layout=False)
        updated = clock_text(price.last_updated, zone)
        age = age_text(price.last_updated, now)
        if stale:  # no room for the clock time beside the mark in a panel at 80 columns
            warning = self.app.theme_variables.get("text-warning", "yellow")
            when = Text(f"stale · {age} ago", style=f"bold {warning}")
        else:
            when = Text(f"at {updated} · {age} ago")
        self.query_one(".price-time", Static).update(when, layout=False)
        if self._sparkline_stale:
            self._draw_sparkline()

    def add_prices(self, prices: Iterable[Price]) -> None:
        """Add this asset's prices among ``prices``, oldest first, to the sparkline's history;
        the next ``show`` draws them."""
        for price in prices:
            if price.token_type == self.asset and self.history.add(price):
                self._sparkline_stale = True

    def _draw_sparkline(self) -> None:
        self._sparkline_stale = False
        values = self.history.usd_values()
        # Textual draws a single value as a full block; a flat baseline reads as "no trend yet".
        self.query_one(Sparkline).data = values if len(values) > 1 else []
