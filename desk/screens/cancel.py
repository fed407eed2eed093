"""The dialog that confirms cancelling one of the trader's own offers."""

from __future__ import annotations

from rich.text import Text

from desk.backend.schemas import Trade
from desk.formatting import amount_text, rate_text
from desk.screens.confirm import ConfirmDialog


def cancel_summary(trade: Trade) -> Text:
    """Describe what cancelling ``trade`` releases."""
    text = Text()
    text.append(f"Offer {trade.id}: ", style="bold")
    text.append(f"{amount_text(trade.amount, trade.from_token)} {trade.from_token} for "
                f"{rate_text(trade.exchange_rate)} {trade.to_token} each.\n")
    text.append("Cancelling releases the held ")
    text.append(f"{amount_text(trade.amount, trade.from_token)} {trade.from_token}", style="bold")
    text.append(" back to your available balance.")
    return text


class ConfirmCancelDialog(ConfirmDialog):
    """Asks before withdrawing an offer; dismisses with True to cancel it."""

    def __init__(self, trade: Trade) -> None:
        super().__init__(f"Cancel offer {trade.id}?", cancel_summary(trade), "cancel it")
        self.trade = trade
