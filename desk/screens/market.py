"""Market prices: a panel per asset, refreshed with the desk's price updates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.widgets import Static

from desk.backend.money import ASSETS
from desk.formatting import clock_text
from desk.screens.base import DeskScreen
from desk.widgets.price_panel import PricePanel

if TYPE_CHECKING:
    from desk.backend.schemas import Price


class MarketScreen(DeskScreen):
    """The price of every asset in BTC and USD and its change since login.

    | key | action |
    | --- | --- |
    | c | convert the focused asset at the market price |
    | arrows | move between the panels |
    """

    SECTION = "market"
    DEFAULT_CSS = """
    MarketScreen #price-grid {
        grid-size: 3;
        grid-gutter: 0 1;
        grid-rows: 6;
        height: auto;
        padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[Any]] = [
        Binding("c", "convert", "Convert", id="market.convert",
                tooltip="Convert the focused asset at the market price"),
        Binding("left,up", "app.focus_previous", "Previous panel", show=False,
                id="market.previous", tooltip="Focus the previous price panel"),
        Binding("right,down", "app.focus_next", "Next panel", show=False, id="market.next",
                tooltip="Focus the next price panel"),
    ]

    def compose_body(self) -> ComposeResult:
        yield Static("Prices in BTC and USD; change since you logged in.",
                     classes="section-title")
        with Grid(id="price-grid"):
            for asset in ASSETS:
                yield PricePanel(asset)
        yield Static("", id="market-status", classes="status-line")

    def on_mount(self) -> None:
        super().on_mount()
        # Every refresh moves prices_at, even when no price changed, so the ages stay current.
        self.watch(self.app, "prices_at", self._refreshed)
        self.query_one(PricePanel).focus()

    def reload(self) -> None:
        self.app.refresh_prices()

    def _refreshed(self, _: object) -> None:
        self._show(self.app.prices)

    def _show(self, prices: tuple[Price, ...]) -> None:
        now = self.app.clock()
        zone = self.app.timezone
        for price in prices:
            panels = self.query(f"#price-{price.token_type}")
            if not panels:
                continue
            start = self.app.session_start_prices.get(price.token_type, price)
            panels.first(PricePanel).show(price, start, now, zone)
        when = self.app.prices_at
        status = f"Last refreshed {clock_text(when, zone)}" if when else "Waiting for prices…"
        self.query_one("#market-status", Static).update(
            f"{status} · every {self.app.price_interval:g}s · c converts")

    def action_convert(self) -> None:
        from desk.screens.convert import ConvertDialog

        focused = self.focused
        asset = focused.asset if isinstance(focused, PricePanel) else "OpenAI"
        self.app.push_screen(ConvertDialog(from_token=asset))
