"""The demo story end to end through the backend interface."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from desk.backend import Backend
from tests.support import PASSWORD, unique_name


def balance_of(backend: Backend, asset: str) -> Decimal:
    return next(b.balance for b in backend.balances().balances if b.token_type == asset)


def test_demo_story(connect: Callable[[], Backend], assert_audit: Callable[[], None]) -> None:
    alice, bob = connect(), connect()
    names = {}
    for backend, prefix in ((alice, "alice"), (bob, "bob")):
        name = unique_name(prefix)
        user = backend.register(name, f"{name}@example.com", PASSWORD)
        assert user.username == name
        names[prefix] = user
        session = backend.login(name, PASSWORD)
        assert session.token_type == "bearer"
        assert session.expires_in > 0
        assert backend.user_id == user.id

    start = alice.balances()
    assert [b.token_type for b in start.balances] == [
        "OpenAI", "Anthropic", "Google", "Cohere", "Mistral", "BTC"]
    assert balance_of(alice, "OpenAI") == Decimal("1000")
    assert balance_of(alice, "BTC") == Decimal("0.01")
    assert start.total_btc > 0
    assert start.total_usd > 0

    offer = alice.create_offer("OpenAI", "Anthropic", "250.5", "0.8")
    assert offer.status == "active"
    assert offer.amount == Decimal("250.5")
    held = next(b for b in alice.balances().balances if b.token_type == "OpenAI")
    assert held.held == Decimal("250.5")
    assert held.available == Decimal("749.5")

    book = alice.list_offers(from_token="OpenAI", to_token="Anthropic", mine=True)
    assert [trade.id for trade in book.trades] == [offer.id]

    taken = bob.execute_offer(offer.id)
    assert taken.status == "completed"
    assert taken.executor_id == names["bob"].id
    assert taken.completed_at is not None

    # The taker pays 250.5 x 0.8 = 200.4 Anthropic and receives the 250.5 OpenAI held.
    assert balance_of(alice, "OpenAI") == Decimal("749.5")
    assert balance_of(alice, "Anthropic") == Decimal("1200.4")
    assert balance_of(bob, "OpenAI") == Decimal("1250.5")
    assert balance_of(bob, "Anthropic") == Decimal("799.6")
    for backend in (alice, bob):
        history = backend.history()
        assert [trade.id for trade in history.trades] == [offer.id]
        assert history.trades[0].status == "completed"

    bob_ledger = bob.ledger().entries
    assert {(e.token_type, e.amount, e.reason) for e in bob_ledger[:2]} == {
        ("OpenAI", Decimal("250.5"), "trade_bought"),
        ("Anthropic", Decimal("-200.4"), "trade_paid"),
    }
    assert all(e.reference == f"trade:{offer.id}" for e in bob_ledger[:2])

    prices = {price.token_type: price for price in bob.prices()}
    conversion = bob.convert("OpenAI", "BTC", "100")
    assert conversion.received == (Decimal(100) * prices["OpenAI"].price_btc).quantize(
        Decimal("0.00000001"), rounding="ROUND_DOWN")
    assert balance_of(bob, "OpenAI") == Decimal("1150.5")
    assert balance_of(bob, "BTC") == Decimal("0.01") + conversion.received
    assert alice.list_offers(mine=True).trades == []
    assert_audit()
