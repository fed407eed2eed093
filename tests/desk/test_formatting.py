"""The desk's text for numbers, read back from what a trader types."""

from __future__ import annotations

import pytest

from desk.formatting import market_message, sentence, without_thousands_separators


@pytest.mark.parametrize(("typed", "plain"), [
    ("1,000", "1000"),
    ("1,000.5", "1000.5"),
    (" 12,345,678.000001 ", "12345678.000001"),
    ("-1,000", "-1000"),
    ("999", "999"),
    ("1000.5", "1000.5"),
])
def test_separators_removed(typed: str, plain: str) -> None:
    assert without_thousands_separators(typed) == plain


@pytest.mark.parametrize("typed", ["1,0,0", "1000,5", "1,00", ",100", "1,000,", "1.000,5",
                                   "1,0000", "abc"])
def test_misplaced_commas_kept(typed: str) -> None:
    assert without_thousands_separators(typed) == typed


@pytest.mark.parametrize(("message", "shown"), [
    ("trade 3 is cancelled, no longer active", "Trade 3 is cancelled, no longer active."),
    ("Logged out.", "Logged out."),
    ("", ""),
])
def test_sentence(message: str, shown: str) -> None:
    assert sentence(message) == shown


@pytest.mark.parametrize(("message", "shown"), [
    ("cannot take trade 2: it costs 100000.000000 Anthropic and you have 4090.000000 "
     "Anthropic available",
     "Cannot take offer 2: it costs 100,000.000000 Anthropic and you have 4,090.000000 "
     "Anthropic available."),
    ("trade 3 is cancelled, no longer active", "Offer 3 is cancelled, no longer active."),
    ("trade 12345 is your own offer; cancel it instead",
     "Offer 12345 is your own; cancel it instead."),
    ("trade 4 is not your offer; only its creator can cancel it",
     "Offer 4 is not yours; only its creator can cancel it."),
    ("you have 3 open offers, the maximum of 3 per trader",
     "You have 3 open offers, the maximum of 3 per trader."),
    ("must be at most 1,000,000,000,000, got 1000000000001",
     "Must be at most 1,000,000,000,000, got 1000000000001."),
])
def test_market_message(message: str, shown: str) -> None:
    assert market_message(message) == shown


def test_market_message_for_field() -> None:
    reason = market_message("a taker would pay 2500.000000 Anthropic", as_sentence=False)
    assert reason == "a taker would pay 2,500.000000 Anthropic"
