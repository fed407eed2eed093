"""Exact parsing, rounding and storage units of money."""

from __future__ import annotations

from decimal import Decimal

import pytest

from desk.backend.errors import InvalidInput
from desk.backend.money import (
    format_amount,
    from_minor,
    multiply,
    parse_amount,
    parse_number,
    parse_rate,
    round_down,
    to_minor,
)
from desk.backend.trading import payment_for


@pytest.mark.parametrize(("text", "expected"), [
    ("12.5", Decimal("12.5")),
    (" 7 ", Decimal(7)),
    ("1e3", Decimal(1000)),
    (".5", Decimal("0.5")),
    ("12345678901234567890.123456", Decimal("12345678901234567890.123456")),
])
def test_parse_number_exact(text: str, expected: Decimal) -> None:
    assert parse_number(text, "amount") == expected


@pytest.mark.parametrize("value", [
    0.1, True, None, [], "NaN", "nan", "sNaN", "Infinity", "-inf", "1_000", "0x10", "1,5",
    "", "   ", "1e99999", "9" * 65, b"12",
])
def test_parse_number_rejects(value: object) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_number(value, "amount")
    assert raised.value.field == "amount"


def test_parse_number_rejects_decimal_nan() -> None:
    with pytest.raises(InvalidInput):
        parse_number(Decimal("NaN"), "amount")


def test_float_rejection_says_why() -> None:
    with pytest.raises(InvalidInput, match="send it as a string"):
        parse_amount(0.5, "OpenAI")


def test_parse_amount_precision_per_asset() -> None:
    assert parse_amount("0.000001", "OpenAI") == Decimal("0.000001")
    assert parse_amount("0.00000001", "BTC") == Decimal("0.00000001")
    assert parse_amount("1.500000000", "OpenAI") == Decimal("1.5")  # trailing zeros are exact
    with pytest.raises(InvalidInput, match="at most 6 decimal places"):
        parse_amount("0.0000001", "OpenAI")
    with pytest.raises(InvalidInput, match="at most 8 decimal places"):
        parse_amount("0.000000001", "BTC")


def test_parse_amount_bounds() -> None:
    assert parse_amount("1000000000000", "OpenAI") == Decimal(10) ** 12
    for value in ("1000000000000.000001", "0", "-0", "-0.000001"):
        with pytest.raises(InvalidInput):
            parse_amount(value, "OpenAI")


def test_parse_rate() -> None:
    assert parse_rate("0.0000000001") == Decimal("1E-10")
    with pytest.raises(InvalidInput, match="at most 10 decimal places"):
        parse_rate("0.00000000001")


def test_minor_units_round_trip() -> None:
    for asset, text in (("OpenAI", "999999999999.999999"), ("BTC", "0.00000001"),
                        ("Mistral", "0.000001")):
        amount = Decimal(text)
        assert from_minor(to_minor(amount, asset), asset) == amount
    assert to_minor(Decimal("999999999999.999999"), "OpenAI") == 999999999999999999
    with pytest.raises(ValueError):
        to_minor(Decimal("0.0000001"), "OpenAI")


def test_rounding_is_down() -> None:
    assert round_down(Decimal("0.9999999"), "OpenAI") == Decimal("0.999999")
    assert round_down(Decimal("0.123456789"), "BTC") == Decimal("0.12345678")
    assert round_down(Decimal("-0.0000015"), "OpenAI") == Decimal("-0.000001")


def test_large_products_stay_exact() -> None:
    # 40 significant digits: the default 28-digit context would round this product.
    amount = Decimal("999999999999.999999")
    rate = Decimal("999999999999.9999999999")
    digits = str(999999999999999999 * 9999999999999999999999)
    exact = Decimal(f"{digits[:-16]}.{digits[-16:]}")
    assert multiply(amount, rate) == exact
    assert exact != amount * rate


def test_payment_rounds_down_to_target() -> None:
    assert payment_for(Decimal("3"), Decimal("0.3333333333"), "OpenAI") == Decimal("0.999999")
    assert payment_for(Decimal("1"), Decimal("0.000000019"), "BTC") == Decimal("0.00000001")


def test_format_amount_fixed_places() -> None:
    assert format_amount(Decimal("12.5"), "OpenAI") == "12.500000"
    assert format_amount(Decimal(0), "BTC") == "0.00000000"
    assert format_amount(Decimal("1E+3"), "OpenAI") == "1000.000000"


@pytest.mark.parametrize(("typed", "echoed"), [
    ("0.0000001", "got 0.0000001"),
    ("1e-20", "got 0.00000000000000000001"),
    ("1e400", "got 1E+400"),
    ("-5", "got -5"),
])
def test_rejection_echoes_plain_number(typed: str, echoed: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_amount(typed, "OpenAI")
    assert str(caught.value).endswith(echoed)
