"""The desk's text for numbers, read back from what a trader types."""

from __future__ import annotations

import pytest

from desk.formatting import sentence, without_thousands_separators


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
