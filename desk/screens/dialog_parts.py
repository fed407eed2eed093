"""Pieces shared by the desk's dialogs: mapping a rejected field to a form row."""

from __future__ import annotations

# Field names of ``InvalidInput`` errors, mapped to the row of the form that holds them.
FORM_ROWS = {
    "from_token": "from",
    "to_token": "to",
    "amount": "amount",
    "exchange_rate": "rate",
}
