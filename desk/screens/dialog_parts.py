"""Pieces shared by the desk's dialogs: mapping a rejected field to a form row, and the
text of a failed call."""

from __future__ import annotations

from desk.formatting import market_message

# Field names of ``InvalidInput`` errors, mapped to the row of the form that holds them.
FORM_ROWS = {
    "from_token": "from",
    "to_token": "to",
    "amount": "amount",
    "exchange_rate": "rate",
}


def failure_text(error: BaseException | None) -> str:
    """Write why a backend call failed, as a sentence for a dialog's status line."""
    message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
    return market_message(message)
