"""The portfolio: every asset's balances and value, with the total on top."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Static
from textual.worker import get_current_worker

from desk.backend.money import BTC
from desk.formatting import amount_text, clock_text, usd_text
from desk.screens.base import DeskScreen
from desk.widgets.balances import BalanceTable, portfolio_value
from desk.widgets.table import DataView

if TYPE_CHECKING:
    from desk.backend.schemas import Portfolio, Price


class PortfolioScreen(DeskScreen):
    """Balances per asset: available, held in offers, total, value in BTC and USD, share.

    It reloads after every change to the trader's balances. A price tick only values the
    balances it has again, at the new prices, without asking the market for them.

    | key | action |
    | --- | --- |
    | c | convert the selected asset at the market price |
    """

    SECTION = "portfolio"
    BINDINGS: ClassVar[list[Any]] = [
        Binding("c", "convert", "Convert", id="portfolio.convert",
                tooltip="Convert the selected asset at the market price"),
    ]

    ERROR_TITLES: ClassVar[dict[str, str]] = {"portfolio": "Balances not loaded"}

    class Loaded(Message):
        """The trader's balances arrived."""

        def __init__(self, portfolio: Portfolio) -> None:
            super().__init__()
            self.portfolio = portfolio

    def __init__(self) -> None:
        super().__init__()
        self.portfolio: Portfolio | None = None

    def compose_body(self) -> ComposeResult:
        yield Static("Total value: loading…", id="total", classes="section-title")
        yield DataView(BalanceTable(id="balances"), "You hold no assets.", id="balances-view",
                       focus=True)
        yield Static("", id="prices-note", classes="status-line")

    def on_mount(self) -> None:
        super().on_mount()
        self.watch(self.app, "prices", self._prices_changed, init=False)

    def _prices_changed(self, prices: tuple[Price, ...]) -> None:
        if self.is_current:
            self._show()

    def on_screen_resume(self) -> None:
        self._show()  # at the prices of now, while the balances reload if they changed

    def reload(self) -> None:
        self._load()

    @work(thread=True, group="portfolio", exclusive=True, exit_on_error=False)
    def _load(self) -> None:
        portfolio = self.app.backend().balances()
        if not get_current_worker().is_cancelled:
            self.post_message(self.Loaded(portfolio))

    def worker_failed(self, group: str, error: BaseException | None) -> bool:
        self.query_one(DataView).failed()
        return False

    def on_portfolio_screen_loaded(self, event: Loaded) -> None:
        self.portfolio = event.portfolio
        self._show()

    def _show(self) -> None:
        portfolio = self.portfolio
        if portfolio is None:
            return
        prices = {price.token_type: price for price in self.app.prices}
        if prices:
            total_btc, total_usd = portfolio_value(portfolio, prices)
        else:  # no prices yet: the market's own valuation
            total_btc, total_usd = portfolio.total_btc, portfolio.total_usd
        self.query_one(DataView).show_rows(BalanceTable.rows(portfolio, prices))
        total = f"Total value: {amount_text(total_btc, BTC)} BTC  ≈ {usd_text(total_usd)}"
        self.query_one("#total", Static).update(total)
        when = self.app.prices_at
        note = f"Valued at market prices of {clock_text(when, self.app.timezone)}" if when else ""
        self.query_one("#prices-note", Static).update(note)

    def action_convert(self) -> None:
        from desk.screens.convert import ConvertDialog

        table = self.query_one(BalanceTable)
        asset = table.selected_key or BTC
        self.app.push_screen(ConvertDialog(from_token=asset))
