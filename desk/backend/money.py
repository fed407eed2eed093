"""Exact money: the assets, their precision, parsing, rounding and storage units.

Every amount is a ``Decimal`` in memory, a string in JSON and an integer count of the asset's
smallest unit in the database (a millionth of an AI token, a satoshi of BTC). The single
rounding rule of the market is "round down to the precision of the asset that is paid out".
"""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, Decimal, localcontext

from desk.backend.errors import InvalidInput

BTC = "BTC"
AI_TOKENS: tuple[str, ...] = ("OpenAI", "Anthropic", "Google", "Cohere", "Mistral")
ASSETS: tuple[str, ...] = (*AI_TOKENS, BTC)

# Decimal places of each asset: AI credits in millionths, BTC in satoshis.
PLACES: dict[str, int] = {**{token: 6 for token in AI_TOKENS}, BTC: 8}

RATE_PLACES = 10
PRICE_PLACES = 12
MAX_AMOUNT = Decimal(10) ** 12
MAX_RATE = Decimal(10) ** 12
# Numbers in messages are written without an exponent up to this power of ten.
MAX_PLAIN_EXPONENT = 40

# Longest numeric string accepted; longer input is rejected before Decimal parses it.
MAX_NUMBER_LENGTH = 64
# ASCII digits only: Decimal also reads other scripts' digits, such as "١٢٣" or "１２３".
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,4})?")
_EXACT = 80  # digits of working precision, enough for any product of two bounded values


def check_asset(value: object, field: str) -> str:
    """Return ``value`` if it names a known asset, else raise ``InvalidInput``."""
    if not isinstance(value, str) or value not in PLACES:
        known = ", ".join(ASSETS)
        raise InvalidInput(field, f"unknown token type {value!r}; expected one of {known}")
    return value


def parse_number(value: object, field: str) -> Decimal:
    """Parse a finite decimal from a string, an int or a Decimal, exactly as written.

    Binary floats are rejected because they cannot carry an exact decimal value.
    """
    if isinstance(value, (bool, float)):
        raise InvalidInput(field, f"{value!r} is not an exact number; send it as a string")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_NUMBER_LENGTH or not _NUMBER.fullmatch(text):
            shown = text if len(text) <= MAX_NUMBER_LENGTH else text[:MAX_NUMBER_LENGTH] + "..."
            raise InvalidInput(field, f"{shown!r} is not a number")
        number = Decimal(text)
    else:
        raise InvalidInput(field, f"expected a number as a string, got {type(value).__name__}")
    if not number.is_finite():
        raise InvalidInput(field, f"{value} is not a finite number")
    return number


def number_text(number: Decimal) -> str:
    """Write a number as people write it (0.0000001, not 1E-7), unless that needs more than
    about 40 digits (1E+400 stays as it is)."""
    if -MAX_PLAIN_EXPONENT <= number.adjusted() <= MAX_PLAIN_EXPONENT:
        return f"{number:f}"
    return str(number)


def _check_positive(number: Decimal, field: str, maximum: Decimal) -> None:
    if number <= 0:
        raise InvalidInput(field, f"must be greater than zero, got {number_text(number)}")
    if number > maximum:
        raise InvalidInput(field, f"must be at most {maximum:,.0f}, got {number_text(number)}")


def _places_of(number: Decimal) -> int:
    # Counted from the digits: normalize() rounds under the default context, which turns a
    # tiny value such as 1E-999999999 into 0, and so into 0 decimal places.
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite numbers only reach here
    significant = "".join(map(str, digits)).rstrip("0")
    if not significant:
        return 0
    trailing_zeros = len(digits) - len(significant)
    return max(0, -(exponent + trailing_zeros))


def _check_places(number: Decimal, field: str, places: int, what: str) -> None:
    if _places_of(number) > places:
        raise InvalidInput(field, f"{what} allows at most {places} decimal places, got "
                                  f"{number_text(number)}")


def parse_amount(value: object, asset: str, field: str = "amount") -> Decimal:
    """Parse a positive amount of ``asset`` that fits its precision and the market maximum."""
    number = parse_number(value, field)
    _check_positive(number, field, MAX_AMOUNT)
    _check_places(number, field, PLACES[asset], asset)
    return quantize(number, asset)


def parse_rate(value: object, field: str = "exchange_rate") -> Decimal:
    """Parse a positive exchange rate with at most ``RATE_PLACES`` decimal places."""
    number = parse_number(value, field)
    _check_positive(number, field, MAX_RATE)
    _check_places(number, field, RATE_PLACES, "an exchange rate")
    return number.quantize(Decimal(1).scaleb(-RATE_PLACES))


def quantize(amount: Decimal, asset: str) -> Decimal:
    """Return ``amount`` written with exactly the asset's decimal places (no rounding needed)."""
    with localcontext(prec=_EXACT):
        return amount.quantize(unit(asset))


def round_down(value: Decimal, asset: str) -> Decimal:
    """Round ``value`` toward zero to the precision of ``asset``: the market's rounding rule."""
    return truncate(value, PLACES[asset])


def truncate(value: Decimal, places: int) -> Decimal:
    """Round ``value`` toward zero to ``places`` decimal places."""
    with localcontext(prec=_EXACT):
        return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN)


def multiply(a: Decimal, b: Decimal) -> Decimal:
    """Multiply exactly; the default 28-digit context would round large products."""
    with localcontext(prec=_EXACT):
        return a * b


def divide(a: Decimal, b: Decimal) -> Decimal:
    """Divide with 80 significant digits, far beyond any asset's precision."""
    with localcontext(prec=_EXACT):
        return a / b


def unit(asset: str) -> Decimal:
    """Return the smallest amount of ``asset``: 0.000001 for AI tokens, 0.00000001 for BTC."""
    return Decimal(1).scaleb(-PLACES[asset])


def to_minor(amount: Decimal, asset: str) -> int:
    """Convert an amount to an integer count of the asset's smallest unit, exactly."""
    with localcontext(prec=_EXACT):
        scaled = amount.scaleb(PLACES[asset])
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{amount} has more than {PLACES[asset]} decimal places")
        return int(scaled)


def from_minor(count: int, asset: str) -> Decimal:
    """Convert an integer count of the smallest unit back to an amount of ``asset``."""
    with localcontext(prec=_EXACT):
        return Decimal(count).scaleb(-PLACES[asset])


def format_amount(amount: Decimal, asset: str) -> str:
    """Write an amount with exactly its asset's decimal places, as the API sends it."""
    return f"{quantize(amount, asset):f}"

