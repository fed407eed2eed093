"""One asset's price chart, opened from the market screen and moving with every tick."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from desk.backend.money import ASSETS, BTC, PLACES
from desk.formatting import (
    USD_PLACES,
    age_text,
    btc_price_text,
    change_percent,
    change_text,
    places_for,
    usd_text,
)
from desk.screens.base import BackendCalls
from desk.widgets.banner import ConnectionBanner
from desk.widgets.header import DeskHeader
from desk.widgets.price_chart import PriceChart
from desk.widgets.price_history import PriceHistory
from desk.widgets.price_panel import change_style
from desk.widgets.too_small import TooSmall

if TYPE_CHECKING:
    from desk.backend.schemas import PricePoint

CHART_POINTS = 400
"""How many recent prices the chart loads and keeps; the widest chart shows them all."""


class PriceChartScreen(BackendCalls, Screen[None]):
    """A chart of one asset's recent prices in USD, or in BTC for an AI token.

    | key | action |
    | --- | --- |
    | escape | back to the market |
    | b | prices in BTC or in USD |
    | left / right | the previous / next asset |
    """

    DEFAULT_CSS = """
    PriceChartScreen #chart-summary { height: auto; padding: 0 1; }
    PriceChartScreen PriceChart { margin: 1 1 0 1; }
    """
    BINDINGS: ClassVar[list[Any]] = [
        Binding("escape", "close", "Back", id="chart.close", tooltip="Return to the market"),
        Binding("b", "toggle_unit", "BTC / USD", id="chart.unit",
                tooltip="Chart the price in BTC or in USD"),
        Binding("left", "step(-1)", "Previous asset", id="chart.previous", key_display="←",
                tooltip="Chart the previous asset"),
        Binding("right", "step(1)", "Next asset", id="chart.next", key_display="→",
                tooltip="Chart the next asset"),
        Binding("question_mark", "app.help", "Keys", id="chart.help", key_display="?",
                tooltip="List every key of this screen"),
    ]
    ERROR_TITLES: ClassVar[dict[str, str]] = {"chart": "Price history not loaded"}

    class HistoryLoaded(Message):
        """The market's recent prices of ``asset`` arrived."""

        def __init__(self, asset: str, points: list[PricePoint]) -> None:
            super().__init__()
            self.asset = asset
            self.points = points

    def __init__(self, asset: str) -> None:
        super().__init__()
        self.asset = asset
        self.in_btc = False
        self.history = PriceHistory(CHART_POINTS)

    def compose(self) -> ComposeResult:
        # No section keys: the number keys do not apply until Escape returns to the market.
        yield DeskHeader()
        yield ConnectionBanner()
        yield Static("", id="chart-summary")
        yield PriceChart(self._axis_label, id="chart")
        yield Footer()
        yield TooSmall()

    def on_mount(self) -> None:
        self.watch(self.app, "prices_at", self._tick, init=False)
        self._open(self.asset)

    def _open(self, asset: str) -> None:
        self.asset = asset
        self.history = PriceHistory(CHART_POINTS)
        self._add_current_price()
        self._draw()
        self._load(asset)

    @work(thread=True, group="chart", exclusive=True, exit_on_error=False)
    def _load(self, asset: str) -> None:
        points = self.app.backend().price_history(asset, CHART_POINTS)
        if not get_current_worker().is_cancelled:
            self.post_message(self.HistoryLoaded(asset, points))

    def on_price_chart_screen_history_loaded(self, event: HistoryLoaded) -> None:
        if event.asset == self.asset:
            self.history.seed(event.points)
            self._draw()

    def _tick(self, _: object) -> None:
        if self._add_current_price():
            self._draw()

    def _add_current_price(self) -> bool:
        added = False
        for tick in self.app.price_ticks:
            for price in tick:
                if price.token_type == self.asset:
                    added = self.history.add(price) or added
        return added

    def _price_label(self, value: Decimal) -> str:
        return btc_price_text(value) if self._charts_btc else usd_text(value)

    def _axis_label(self, value: Decimal, places: int) -> str:
        if self._charts_btc:
            return f"{value:,.{max(places, places_for(value, PLACES[BTC]))}f}"
        return f"${value:,.{max(places, places_for(value, USD_PLACES, significant=2))}f}"

    @property
    def _charts_btc(self) -> bool:
        # BTC's price in BTC is always 1, so BTC is charted in USD.
        return self.in_btc and self.asset != BTC

    def _draw(self) -> None:
        points = list(self.history.points)
        unit = "BTC" if self._charts_btc else "USD"
        summary = Text()
        summary.append(f"{self.asset} in {unit}", style="bold")
        current = next((p for p in self.app.prices if p.token_type == self.asset), None)
        if current is not None:
            value = current.price_btc if self._charts_btc else current.price_usd
            summary.append(f"  {self._price_label(value)}  ")
            start = self.app.session_start_prices.get(self.asset, current)
            change, direction = change_text(change_percent(start.price_usd, current.price_usd))
            summary.append(change, style=change_style(self, direction))
            summary.append(" since login", style="dim")
        if len(points) >= 2:
            span = age_text(points[0].at, points[-1].at)
            summary.append(f" · {len(points)} prices over {span}", style="dim")
        self.query_one("#chart-summary", Static).update(summary)
        self.query_one(PriceChart).plot(points, in_btc=self._charts_btc,
                                        zone=self.app.timezone)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_toggle_unit(self) -> None:
        if self.asset == BTC:
            self.notify("BTC is charted in USD: its price in BTC is always 1.",
                        title="Chart")
            return
        self.in_btc = not self.in_btc
        self._draw()

    def action_step(self, step: int) -> None:
        index = ASSETS.index(self.asset)
        self._open(ASSETS[(index + step) % len(ASSETS)])
