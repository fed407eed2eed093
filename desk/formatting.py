"""Text for numbers, prices, changes and times as the desk shows them.

Amounts keep every decimal place of their asset so that decimal points line up in a
right-aligned column. Prices are shown with significant digits instead, because an AI token
costs a few hundred-thousandths of a BTC and a fixed two places would print ``0.00``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal

from desk.backend.money import PLACES

SIGNIFICANT_DIGITS = 4
# A number with commas between groups of three digits, as ``amount_text`` writes it.
_GROUPED_NUMBER = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")
# An amount in a market message: at least four digits before a decimal point. Ids and
# counts have no decimal point and keep their plain digits.
_MARKET_AMOUNT = re.compile(r"(?<![\w.,])(\d{4,})(\.\d+)")
# An offer as the API names it: "trade 3".
_MARKET_OFFER = re.compile(r"\btrade (\d+)\b")
MAX_PRICE_PLACES = 12
USD_PLACES = 2


def amount_text(amount: Decimal, asset: str) -> str:
    """Write an amount with its asset's decimal places and thousands separators."""
    return f"{amount:,.{PLACES[asset]}f}"


def places_for(value: Decimal, minimum: int, significant: int = SIGNIFICANT_DIGITS) -> int:
    """Return how many decimal places show ``significant`` digits of ``value``.

    The result is at least ``minimum`` and at most ``MAX_PRICE_PLACES``; values of 1 and above
    keep ``minimum``.
    """
    if value == 0 or not value.is_finite() or value >= 1:
        return minimum
    needed = significant - 1 - value.adjusted()
    return max(minimum, min(needed, MAX_PRICE_PLACES))


def price_text(value: Decimal, minimum: int = 2) -> str:
    """Write a price so that a tiny one keeps its significant digits (0.00001015, not 0.00)."""
    places = places_for(abs(value), minimum)
    return f"{value:,.{places}f}"


def usd_text(value: Decimal) -> str:
    """Write a USD value: cents for ordinary values, two significant digits for tiny ones."""
    sign = "-" if value < 0 else ""
    places = places_for(abs(value), USD_PLACES, significant=2)
    return f"{sign}${abs(value):,.{places}f}"


def btc_price_text(value: Decimal) -> str:
    """Write a price in BTC with at least satoshi precision."""
    return price_text(value, PLACES["BTC"])


def rate_text(rate: Decimal) -> str:
    """Write an exchange rate exactly, without trailing zeros (0.8, not 0.8000000000)."""
    text = f"{rate:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def change_percent(start: Decimal, now: Decimal) -> Decimal:
    """Return the change from ``start`` to ``now`` in percent; zero when ``start`` is zero."""
    if start == 0:
        return Decimal(0)
    return (now - start) / start * 100


def change_text(percent: Decimal) -> tuple[str, str]:
    """Write a change with an arrow and a sign, and name its direction: up, down or flat.

    The arrow and sign carry the direction on their own, so it reads without colour.
    """
    rounded = percent.quantize(Decimal("0.01"))
    if rounded > 0:
        return f"▲ +{rounded}%", "up"
    if rounded < 0:
        return f"▼ −{-rounded}%", "down"
    return "= 0.00%", "flat"


def share_text(part: Decimal, whole: Decimal) -> str:
    """Write ``part`` as a share of ``whole`` in percent with one decimal place."""
    if whole <= 0:
        return "—"
    return f"{part / whole * 100:.1f}%"


def age_text(since: datetime, now: datetime) -> str:
    """Write how long ago ``since`` was, in the largest whole unit: 45s, 12m, 3h, 2d."""
    seconds = max(0, int((now - since) / timedelta(seconds=1)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def clock_text(moment: datetime, zone: tzinfo | None = None) -> str:
    """Write a time of day in ``zone`` (the local time zone for None), to the second."""
    return moment.astimezone(zone).strftime("%H:%M:%S")


def time_text(moment: datetime, zone: tzinfo | None = None) -> str:
    """Write a date and time in ``zone`` (the local time zone for None), to the minute."""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def sentence(message: str) -> str:
    """Write a message as a sentence: a capital first letter and a final full stop.

    The market's messages start in lower case so that they can follow a colon.
    """
    text = message.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else f"{text}."


def without_thousands_separators(text: str) -> str:
    """Remove the commas from a number written as the desk writes it ("1,000.5" to "1000.5").

    Commas anywhere else ("1,0,0", "1000,5") are left in place, so that parsing rejects
    the number.
    """
    stripped = text.strip()
    if _GROUPED_NUMBER.fullmatch(stripped):
        return stripped.replace(",", "")
    return stripped


def market_message(message: str, *, as_sentence: bool = True) -> str:
    """Word a message of the market as the desk does: "offer 3" for the API's "trade 3",
    amounts with thousands separators and, unless ``as_sentence`` is False, as a sentence.

    Use ``as_sentence=False`` for a reason shown after a field's label.
    """
    text = _MARKET_OFFER.sub(r"offer \1", message)
    text = text.replace(" is your own offer;", " is your own;")
    text = text.replace(" is not your offer;", " is not yours;")
    text = _MARKET_AMOUNT.sub(lambda match: f"{int(match[1]):,}{match[2]}", text)
    return sentence(text) if as_sentence else text


def count_text(count: int, singular: str, plural: str | None = None) -> str:
    """Write a count with its noun: "1 trade", "2 trades", "0 ledger entries"."""
    noun = singular if count == 1 else (plural or f"{singular}s")
    return f"{count:,} {noun}"
