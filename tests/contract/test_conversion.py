"""Conversions at the market price against the house account."""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal

import pytest

from desk.backend import Backend, InsufficientFunds


def balance_of(backend: Backend, asset: str) -> Decimal:
    return next(b.balance for b in backend.balances().balances if b.token_type == asset)


def price_btc(backend: Backend, asset: str) -> Decimal:
    return next(p.price_btc for p in backend.prices() if p.token_type == asset)


def test_convert_ai_token_to_btc(trader: Callable[[], Backend],
                                 assert_audit: Callable[[], None]) -> None:
    alice = trader()
    price = price_btc(alice, "Anthropic")
    result = alice.convert("Anthropic", "BTC", "123.456789")

    expected = (Decimal("123.456789") * price).quantize(Decimal("1E-8"), ROUND_DOWN)
    assert result.received == expected
    assert result.price_btc == price
    assert (result.from_token, result.to_token, result.amount) == (
        "Anthropic", "BTC", Decimal("123.456789"))
    assert balance_of(alice, "Anthropic") == Decimal("876.543211")
    assert balance_of(alice, "BTC") == Decimal("0.01") + expected
    entries = alice.ledger(limit=2).entries
    assert {e.reason for e in entries} == {"convert"}
    assert entries[0].reference == entries[1].reference
    assert entries[0].reference.startswith("conversion:")
    assert_audit()


def test_convert_btc_to_ai_token(trader: Callable[[], Backend]) -> None:
    alice = trader()
    price = price_btc(alice, "Cohere")
    result = alice.convert("BTC", "Cohere", "0.005")
    assert result.received == (Decimal("0.005") / price).quantize(Decimal("1E-6"), ROUND_DOWN)
    assert result.price_btc == price
    assert balance_of(alice, "BTC") == Decimal("0.005")
    assert balance_of(alice, "Cohere") == Decimal(1000) + result.received


def test_convert_between_ai_tokens(trader: Callable[[], Backend],
                                   assert_audit: Callable[[], None]) -> None:
    alice = trader()
    source, target = price_btc(alice, "Google"), price_btc(alice, "Mistral")
    result = alice.convert("Google", "Mistral", "400")
    expected = (Decimal(400) * source / target).quantize(Decimal("1E-6"), ROUND_DOWN)
    assert abs(result.received - expected) <= Decimal("0.000001")
    assert balance_of(alice, "Google") == Decimal(600)
    assert balance_of(alice, "Mistral") == Decimal(1000) + result.received
    assert_audit()


def test_convert_uses_only_available(trader: Callable[[], Backend]) -> None:
    alice = trader()
    alice.create_offer("OpenAI", "Google", "900", "1")
    with pytest.raises(InsufficientFunds, match="100.000000 available"):
        alice.convert("OpenAI", "BTC", "150")
    assert balance_of(alice, "OpenAI") == Decimal(1000)
