"""The dialog that confirms taking an offer, with exactly what the taker pays and receives."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.message import Message
from textual.widgets import Button, Static

from desk.backend.schemas import Trade
from desk.backend.trading import payment_for
from desk.formatting import amount_text, rate_text
from desk.screens.confirm import ConfirmDialog


def take_summary(trade: Trade, creator: str) -> Text:
    """Describe what taking ``trade`` moves, in both directions."""
    payment = payment_for(trade.amount, trade.exchange_rate, trade.to_token)
    text = Text()
    text.append("You pay      ", style="bold")
    text.append(f"{amount_text(payment, trade.to_token)} {trade.to_token}\n")
    text.append("You receive  ", style="bold")
    text.append(f"{amount_text(trade.amount, trade.from_token)} {trade.from_token}\n")
    text.append(f"\nOffer {trade.id} by {creator}, at {rate_text(trade.exchange_rate)} "
                f"{trade.to_token} per {trade.from_token}.", style="dim")
    return text


def shortfall_text(trade: Trade, available: Decimal) -> str | None:
    """Warn that ``available`` of the payment asset does not cover ``trade``; None if it does."""
    payment = payment_for(trade.amount, trade.exchange_rate, trade.to_token)
    if available >= payment:
        return None
    asset = trade.to_token
    return (f"⚠ You have {amount_text(available, asset)} {asset} available, less than the "
            f"{amount_text(payment, asset)} {asset} this offer costs. The market will "
            "reject the take.")


class ConfirmTakeDialog(ConfirmDialog):
    """Asks before taking another trader's offer; dismisses with True to take it.

    It loads the trader's balances and warns before confirming when they cannot cover the
    payment.
    """

    DEFAULT_CSS = """
    ConfirmTakeDialog #take-funds {
        display: none;
        height: auto;
        color: $text-warning;
        text-style: bold;
    }
    ConfirmTakeDialog #take-funds.-shown { display: block; }
    """
    ERROR_TITLES: ClassVar[dict[str, str]] = {"take-balances": "Balances not loaded"}

    class BalanceLoaded(Message):
        def __init__(self, available: Decimal) -> None:
            super().__init__()
            self.available = available

    def __init__(self, trade: Trade, creator: str) -> None:
        super().__init__(f"Take offer {trade.id}?", take_summary(trade, creator), "take it")
        self.trade = trade

    def on_mount(self) -> None:
        self.query_one(".dialog").mount(Static("", id="take-funds"), before=".dialog-buttons")
        self._load_balance()

    @work(thread=True, group="take-balances", exit_on_error=False)
    def _load_balance(self) -> None:
        portfolio = self.app.backend().balances()
        available = {balance.token_type: balance.available for balance in portfolio.balances}
        self.post_message(self.BalanceLoaded(available.get(self.trade.to_token, Decimal(0))))

    def on_confirm_take_dialog_balance_loaded(self, event: BalanceLoaded) -> None:
        warning = shortfall_text(self.trade, event.available)
        funds = self.query_one("#take-funds", Static)
        funds.update(warning or "")
        funds.set_class(warning is not None, "-shown")
        if warning is not None:
            # Enter now selects "No", because the market would reject the take anyway.
            self.query_one("#no", Button).focus()
