"""The dialog that confirms taking an offer, with exactly what the taker pays and receives."""

from __future__ import annotations

from rich.text import Text

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


class ConfirmTakeDialog(ConfirmDialog):
    """Asks before taking another trader's offer; dismisses with True to take it."""

    def __init__(self, trade: Trade, creator: str) -> None:
        super().__init__(f"Take offer {trade.id}?", take_summary(trade, creator), "take it")
        self.trade = trade
