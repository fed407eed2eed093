"""The simulated price feed and the events the market publishes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from desk.backend import Backend, Market, MarketConfig
from desk.backend.events import BalanceEvent, Event, PriceEvent, TradeEvent, event_adapter
from desk.backend.feed import FeedRunner, RandomWalk
from desk.backend.models import PricePoint
from tests.conftest import SECRET


@pytest.fixture
def backend_kind() -> str:
    """These tests subscribe to the in-process market's events, so they trade locally."""
    return "local"


def walk(market: Market, seed: int, steps: int, volatility: float = 0.01) -> list[list[object]]:
    runner = FeedRunner(market, RandomWalk(seed=seed, volatility=volatility), interval=1)
    return [[(p.token_type, p.price_btc, p.price_usd) for p in runner.tick()]
            for _ in range(steps)]


def test_same_seed_same_walk(market: Market, tmp_path: Path) -> None:
    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    other = Market.open(other_url, MarketConfig(secret_key=SECRET, bcrypt_rounds=4))
    try:
        first = walk(market, seed=7, steps=20)
        second = walk(other, seed=7, steps=20)
    finally:
        other.close()
    assert first == second
    assert first[0] != first[-1]


def test_different_seeds_differ(market: Market) -> None:
    current = {p.token_type: p for p in market.prices()}
    one = RandomWalk(seed=1).next_prices(current)
    two = RandomWalk(seed=2).next_prices(current)
    assert one != two
    assert one["OpenAI"][1] != current["OpenAI"].price_usd


def test_prices_stay_positive(market: Market) -> None:
    steps = walk(market, seed=3, steps=200, volatility=0.9)
    for prices in steps:
        for asset, price_btc, price_usd in prices:
            assert price_btc > 0, asset
            assert price_usd > 0, asset
    btc = [p for p in steps[-1] if p[0] == "BTC"][0]
    assert btc[1] == Decimal(1)


def test_btc_price_follows_usd(market: Market) -> None:
    walk(market, seed=5, steps=3)
    prices = {p.token_type: p for p in market.prices()}
    btc_usd = prices["BTC"].price_usd
    for token in ("OpenAI", "Mistral"):
        expected = (prices[token].price_usd / btc_usd).quantize(Decimal("1E-12"), "ROUND_DOWN")
        assert abs(prices[token].price_btc - expected) <= Decimal("1E-12")


def test_history_is_bounded(market: Market) -> None:
    runner = FeedRunner(market, RandomWalk(seed=9), interval=1, history_limit=12)
    for _ in range(30):
        runner.tick()
    with market.database.read() as connection:
        counts = dict(connection.execute(
            select(PricePoint.token_type, func.count()).group_by(PricePoint.token_type)).all())
    assert set(counts.values()) == {12}
    history = market.price_history("Google", limit=1000)
    assert len(history) == 12
    assert history[-1].price_usd == next(
        p.price_usd for p in market.prices() if p.token_type == "Google")
    assert [point.at for point in history] == sorted(point.at for point in history)


def test_runner_ticks_in_background(market: Market) -> None:
    ticked = threading.Event()
    subscription = market.events.subscribe(lambda event: ticked.set())
    runner = FeedRunner(market, RandomWalk(seed=4), interval=0.01)
    runner.start()
    try:
        assert ticked.wait(timeout=30)
    finally:
        runner.stop()
        subscription.close()


def test_tick_publishes_prices(market: Market) -> None:
    seen: list[Event] = []
    market.events.subscribe(seen.append)
    prices = FeedRunner(market, RandomWalk(seed=1), interval=1).tick()
    assert seen == [PriceEvent(prices=prices)]


def test_trade_events_reach_everyone(market: Market, trader: Callable[[], Backend]) -> None:
    alice, bob = trader(), trader()
    everyone: list[Event] = []
    market.events.subscribe(everyone.append)
    offer = alice.create_offer("OpenAI", "Google", "5", "2")
    bob.execute_offer(offer.id)
    trades = [e for e in everyone if isinstance(e, TradeEvent)]
    assert [(e.action, e.trade.id) for e in trades] == [("created", offer.id),
                                                         ("executed", offer.id)]
    assert trades[1].trade.executor_id == bob.user_id


def test_balance_events_reach_owner_only(market: Market,
                                         trader: Callable[[], Backend]) -> None:
    alice, bob, carol = trader(), trader(), trader()
    received: dict[str, list[Event]] = {"alice": [], "bob": [], "carol": []}
    for name, backend in (("alice", alice), ("bob", bob), ("carol", carol)):
        market.events.subscribe(received[name].append, user_id=backend.user_id)

    offer = alice.create_offer("Cohere", "Mistral", "10", "3")
    bob.execute_offer(offer.id)
    bob.convert("Cohere", "BTC", "1")

    def balances(name: str) -> list[BalanceEvent]:
        return [e for e in received[name] if isinstance(e, BalanceEvent)]

    assert len(balances("alice")) == 2  # the hold, then the sale
    assert len(balances("bob")) == 2  # the purchase, then the conversion
    assert balances("carol") == []
    assert all(e.user_id == alice.user_id for e in balances("alice"))
    last = {b.token_type: b for b in balances("alice")[-1].balances}
    assert last["Mistral"].balance == Decimal(1030)
    assert last["Cohere"].held == 0


def test_events_round_trip_as_json(market: Market, trader: Callable[[], Backend]) -> None:
    alice = trader()
    seen: list[Event] = []
    market.events.subscribe(seen.append, user_id=alice.user_id)
    alice.create_offer("OpenAI", "BTC", "1.5", "0.00001")
    assert [event.type for event in seen] == ["trade", "balance"]
    for event in seen:
        text = event_adapter.dump_json(event)
        assert event_adapter.validate_json(text) == event
    assert b'"amount":"1.500000"' in event_adapter.dump_json(seen[0])


def test_failing_listener_is_skipped(market: Market) -> None:
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("listener bug")

    market.events.subscribe(broken)
    market.events.subscribe(seen.append)
    FeedRunner(market, RandomWalk(seed=1), interval=1).tick()
    assert len(seen) == 1
