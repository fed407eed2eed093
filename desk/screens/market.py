"""Market prices: a panel per asset with a sparkline, updated with every price tick."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.message import Message
from textual.widgets import Static
from textual.worker import get_current_worker

from desk.backend.money import ASSETS
from desk.formatting import clock_text
from desk.screens.base import DeskScreen
from desk.widgets.price_panel import SPARKLINE_POINTS, PricePanel

PANELS_PER_FRAME = 1
# Seconds between redraws of the prices' ages, which keep counting while no prices arrive.
AGE_INTERVAL_SECONDS = 1.0

if TYPE_CHECKING:
    from desk.backend.schemas import PricePoint


class MarketScreen(DeskScreen):
    """The price of every asset in BTC and USD and its change since login.

    | key | action |
    | --- | --- |
    | enter | chart the focused asset's recent prices |
    | c | convert the focused asset at the market price |
    | arrows | move between the panels |
    """

    SECTION = "market"
    DEFAULT_CSS = """
    MarketScreen #price-grid {
        grid-size: 3;
        grid-gutter: 0 1;
        grid-rows: 7;
        height: auto;
        padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[Any]] = [
        Binding("enter", "chart", "Chart", id="market.chart",
                tooltip="Chart the focused asset's recent prices"),
        Binding("c", "convert", "Convert", id="market.convert",
                tooltip="Convert the focused asset at the market price"),
        Binding("left,up", "app.focus_previous", "Previous panel", show=False,
                id="market.previous", tooltip="Focus the previous price panel"),
        Binding("right,down", "app.focus_next", "Next panel", show=False, id="market.next",
                tooltip="Focus the next price panel"),
    ]

    ERROR_TITLES: ClassVar[dict[str, str]] = {"history": "Price history not loaded"}

    class HistoryLoaded(Message):
        """The market's recent prices of every asset arrived."""

        def __init__(self, history: dict[str, list[PricePoint]]) -> None:
            super().__init__()
            self.history = history

    def __init__(self) -> None:
        super().__init__()
        self.history_loaded = False
        self.panels = {asset: PricePanel(asset) for asset in ASSETS}
        self._undrawn: list[PricePanel] = []

    def compose_body(self) -> ComposeResult:
        yield Static("Prices in BTC and USD; change since you logged in.",
                     classes="section-title")
        with Grid(id="price-grid"):
            yield from self.panels.values()
        yield Static("", id="market-status", classes="status-line")

    def on_mount(self) -> None:
        super().on_mount()
        # Every refresh moves prices_at, even when no price changed, so the ages stay current.
        self.watch(self.app, "prices_at", self._refreshed)
        self.watch(self.app, "stream_state", self._refreshed, init=False)
        self.watch(self.app, "connection_problem", self._refreshed, init=False)
        # Redraw the ages of the prices while none arrive, as during an outage.
        self.set_interval(AGE_INTERVAL_SECONDS, self._show_ages)
        self.query_one(PricePanel).focus()

    def reload(self) -> None:
        if not self.history_loaded:
            self._load_history()
        self.app.refresh_prices()

    @work(thread=True, group="history", exclusive=True, exit_on_error=False)
    def _load_history(self) -> None:
        backend = self.app.backend()
        history = {asset: backend.price_history(asset, SPARKLINE_POINTS) for asset in ASSETS}
        if not get_current_worker().is_cancelled:
            self.post_message(self.HistoryLoaded(history))

    def on_market_screen_history_loaded(self, event: HistoryLoaded) -> None:
        self.history_loaded = True
        for asset, points in event.history.items():
            self.panels[asset].seed(points)

    def _refreshed(self, _: object) -> None:
        ticks = [price for tick in self.app.price_ticks for price in tick]
        for panel in self.panels.values():
            panel.add_prices(ticks)
        if self.is_current:
            self._show()

    def on_screen_resume(self) -> None:
        self._show()

    def _show_ages(self) -> None:
        if self.is_current:
            self._show()

    def _show(self) -> None:
        """Draw the latest prices: the status line now, then ``PANELS_PER_FRAME`` panels a
        frame."""
        drawing = bool(self._undrawn)
        self._undrawn = list(self.panels.values())
        if not drawing:
            self._draw_panels()
        self._show_status()

    def _draw_panels(self) -> None:
        # Drawing all six panels in one frame cost about 11 ms of CPU (Textual 8.2, measured
        # with bench/desk_ticks.py), most of a 60 Hz frame. Spread over frames, a key press
        # waits for one panel at most.
        if not self.is_attached:  # removed at logout while panels waited to be drawn
            self._undrawn = []
            return
        batch, self._undrawn = self._undrawn[:PANELS_PER_FRAME], self._undrawn[PANELS_PER_FRAME:]
        prices = {price.token_type: price for price in self.app.prices}
        now = self.app.clock()
        stale = bool(self.app.prices_out_of_date)
        for panel in batch:
            price = prices.get(panel.asset)
            if price is not None:
                start = self.app.session_start_prices.get(panel.asset, price)
                panel.show(price, start, now, self.app.timezone, stale=stale)
        if self._undrawn:
            self.call_after_refresh(self._draw_panels)

    def _show_status(self) -> None:
        zone = self.app.timezone
        when = self.app.prices_at
        status = f"Last price at {clock_text(when, zone)}" if when else "Waiting for prices…"
        out_of_date = self.app.prices_out_of_date
        if out_of_date:
            # The key hints give way to the warning, which needs the width at 80 columns.
            line = f"{status} · may be out of date: {out_of_date}"
        else:
            delivery = ("live" if self.app.stream_live
                        else f"polled every {self.app.price_interval:g}s")
            line = f"{status} · {delivery} · enter charts · c converts"
        self.query_one("#market-status", Static).update(line, layout=False)

    def _focused_asset(self) -> str:
        focused = self.focused
        return focused.asset if isinstance(focused, PricePanel) else "OpenAI"

    def action_chart(self) -> None:
        from desk.screens.chart import PriceChartScreen

        self.app.push_screen(PriceChartScreen(self._focused_asset()))

    def action_convert(self) -> None:
        from desk.screens.convert import ConvertDialog

        self.app.push_screen(ConvertDialog(from_token=self._focused_asset()))
