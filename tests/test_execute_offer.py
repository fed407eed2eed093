"""Executing and cancelling offers through ``Market``: results, refusals and exactly-once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal

import pytest

from desk.backend import Conflict, Forbidden, InsufficientFunds, Market, NotFound
from tests.support import PASSWORD, snapshot, unique_name


def register(market: Market) -> int:
    name = unique_name()
    return market.register(name, f"{name}@example.com", PASSWORD).id


def available(market: Market, user_id: int, asset: str) -> Decimal:
    return next(b.available for b in market.portfolio(user_id).balances if b.token_type == asset)


def test_execute_returns_completed_trade(market: Market,
                                         assert_audit: Callable[[], None]) -> None:
    creator, taker = register(market), register(market)
    offer = market.create_offer(creator, "OpenAI", "BTC", "100", "0.0000123456")

    taken = market.execute_offer(taker, offer.id)

    assert taken.id == offer.id
    assert taken.status == "completed"
    assert taken.executor_id == taker
    assert taken.completed_at is not None
    assert taken.completed_at > offer.created_at
    assert taken.amount == Decimal("100")
    assert taken.exchange_rate == Decimal("0.0000123456")
    # 100 × 0.0000123456 = 0.00123456 BTC exactly.
    assert available(market, taker, "BTC") == Decimal("0.01") - Decimal("0.00123456")
    assert available(market, creator, "BTC") == Decimal("0.01") + Decimal("0.00123456")
    assert available(market, taker, "OpenAI") == Decimal("1100")
    assert market.portfolio(creator).balances[0].held == Decimal("0")
    assert_audit()


@pytest.mark.parametrize("case", ["unknown", "own", "taken", "cancelled", "short"])
def test_execute_refusal_changes_nothing(market: Market, db_url: str, case: str,
                                         assert_audit: Callable[[], None]) -> None:
    creator, taker, other = register(market), register(market), register(market)
    # The taker would pay 500 × 5 = 2,500 Anthropic, more than the 1,000 it was granted.
    amount = "500" if case == "short" else "10"
    offer = market.create_offer(creator, "OpenAI", "Anthropic", amount, "5")
    if case == "taken":
        market.execute_offer(other, offer.id)
    if case == "cancelled":
        market.cancel_offer(creator, offer.id)
    before = snapshot(db_url)

    expected: dict[str, type[Exception]] = {
        "unknown": NotFound, "own": Forbidden, "taken": Conflict, "cancelled": Conflict,
        "short": InsufficientFunds,
    }
    trade_id = offer.id + 1000 if case == "unknown" else offer.id
    executor = creator if case == "own" else taker
    with pytest.raises(expected[case]):
        market.execute_offer(executor, trade_id)

    assert snapshot(db_url) == before
    assert_audit()


def test_execute_short_offer_stays_active(market: Market) -> None:
    creator, taker = register(market), register(market)
    offer = market.create_offer(creator, "OpenAI", "Anthropic", "500", "5")

    with pytest.raises(InsufficientFunds, match="2500.000000 Anthropic"):
        market.execute_offer(taker, offer.id)

    book = market.list_offers(taker).trades
    assert [trade.id for trade in book] == [offer.id]
    assert book[0].status == "active"


def test_concurrent_executions_exactly_once(market: Market,
                                            assert_audit: Callable[[], None]) -> None:
    creator = register(market)
    takers = [register(market) for _ in range(6)]
    offer = market.create_offer(creator, "Google", "Cohere", "25", "1.5")
    outcomes: list[object] = []
    start = threading.Barrier(len(takers))

    def take(taker: int) -> None:
        start.wait()
        try:
            outcomes.append(market.execute_offer(taker, offer.id))
        except Conflict as error:
            outcomes.append(error)

    threads = [threading.Thread(target=take, args=(taker,)) for taker in takers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    successes = [outcome for outcome in outcomes if not isinstance(outcome, Conflict)]
    assert len(outcomes) == len(takers)
    assert len(successes) == 1
    assert market.list_offers(creator).trades == []
    assert available(market, creator, "Cohere") == Decimal("1037.5")
    assert_audit()


def test_cancel_returns_cancelled_trade(market: Market,
                                        assert_audit: Callable[[], None]) -> None:
    creator, other = register(market), register(market)
    offer = market.create_offer(creator, "Mistral", "OpenAI", "40", "0.5")

    with pytest.raises(Forbidden):
        market.cancel_offer(other, offer.id)
    cancelled = market.cancel_offer(creator, offer.id)

    assert cancelled.status == "cancelled"
    assert cancelled.executor_id is None
    assert cancelled.completed_at is not None
    assert available(market, creator, "Mistral") == Decimal("1000")
    with pytest.raises(Conflict):
        market.cancel_offer(creator, offer.id)
    assert_audit()
