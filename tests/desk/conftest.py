"""Fixtures of the desk's tests: a seeded market with two traders and their offers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from desk.backend import LocalBackend, Market, MarketConfig
from desk.backend.feed import FeedRunner, RandomWalk
from tests.conftest import SECRET
from tests.support import PASSWORD, Clock

ALICE = "alice"
FEED_SEED = 11
TICK_SECONDS = 2


@pytest.fixture
def desk_market(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Market]:
    """A fresh seeded market at ``market.db`` in the test's folder, its working directory.

    The relative path keeps the header's location the same in every run.
    """
    monkeypatch.chdir(tmp_path)
    config = MarketConfig(secret_key=SECRET, bcrypt_rounds=4, clock=Clock())
    market = Market.open("sqlite:///market.db", config)
    yield market
    market.close()


@pytest.fixture
def book(desk_market: Market) -> Market:
    """The market with trader alice and three of her offers in the book."""
    alice = LocalBackend(desk_market)
    alice.register(ALICE, "alice@example.com", PASSWORD)
    alice.login(ALICE, PASSWORD)
    alice.create_offer("OpenAI", "Anthropic", "250.5", "0.8")
    alice.create_offer("Google", "BTC", "100", "0.0000085")
    alice.create_offer("Mistral", "Cohere", "12.345678", "1.3")
    return desk_market


class FixedFeed:
    """The seeded random walk applied by hand, one tick at a time, ``TICK_SECONDS`` apart."""

    def __init__(self, market: Market) -> None:
        self.market = market
        self.runner = FeedRunner(market, RandomWalk(seed=FEED_SEED, volatility=0.01), 1.0)

    def tick(self, count: int = 1) -> None:
        for _ in range(count):
            self.market.clock.advance(timedelta(seconds=TICK_SECONDS))  # type: ignore[attr-defined]
            self.runner.tick()


@pytest.fixture
def feed(desk_market: Market) -> FixedFeed:
    """A fixed feed on the market that has already moved prices 40 times."""
    fixed = FixedFeed(desk_market)
    fixed.tick(40)
    return fixed
