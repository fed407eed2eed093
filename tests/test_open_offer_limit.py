"""The limit on the number of open offers one trader may have, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from desk.backend import Conflict, LimitExceeded, Market, MarketConfig
from desk.backend.trading import DEFAULT_MAX_OPEN_OFFERS
from desk.settings import Settings
from tests.conftest import SECRET
from tests.support import PASSWORD, Clock, unique_name

LIMIT = 3


@pytest.fixture
def limited(db_url: str, clock: Clock) -> Iterator[Market]:
    """A market on which each trader may have three open offers."""
    config = MarketConfig(secret_key=SECRET, bcrypt_rounds=4, clock=clock,
                          max_open_offers=LIMIT)
    market = Market.open(db_url, config)
    yield market
    market.close()


def register(market: Market) -> int:
    name = unique_name()
    return market.register(name, f"{name}@example.com", PASSWORD).id


def post(market: Market, user_id: int) -> int:
    return market.create_offer(user_id, "OpenAI", "Anthropic", "1", "1").id


def test_offer_past_limit_rejected(limited: Market) -> None:
    alice = register(limited)
    for _ in range(LIMIT):
        post(limited, alice)
    before = limited.portfolio(alice)

    with pytest.raises(LimitExceeded) as caught:
        post(limited, alice)

    assert isinstance(caught.value, Conflict)
    assert caught.value.code == "limit_exceeded"
    assert "you have 3 open offers, the maximum of 3 per trader" in str(caught.value)
    assert limited.portfolio(alice) == before


def test_closed_offers_free_the_limit(limited: Market) -> None:
    alice, bob = register(limited), register(limited)
    offers = [post(limited, alice) for _ in range(LIMIT)]
    limited.cancel_offer(alice, offers[0])
    post(limited, alice)
    limited.execute_offer(bob, offers[1])
    post(limited, alice)
    assert len(limited.list_offers(alice, mine=True).trades) == LIMIT


def test_limit_is_per_trader(limited: Market) -> None:
    alice, bob = register(limited), register(limited)
    for _ in range(LIMIT):
        post(limited, alice)
    post(limited, bob)
    assert len(limited.list_offers(bob, mine=True).trades) == 1


@pytest.mark.slow
def test_concurrent_offers_respect_limit(limited: Market) -> None:
    alice = register(limited)
    attempts = 8
    start = threading.Barrier(attempts)

    def attempt(_: int) -> str:
        start.wait(timeout=30)
        try:
            post(limited, alice)
        except LimitExceeded:
            return "rejected"
        return "posted"

    with ThreadPoolExecutor(max_workers=attempts) as pool:
        outcomes = sorted(pool.map(attempt, range(attempts)))
    assert outcomes.count("posted") == LIMIT
    assert len(limited.list_offers(alice, mine=True).trades) == LIMIT


def test_setting_default_matches_market() -> None:
    assert Settings().max_open_offers == DEFAULT_MAX_OPEN_OFFERS
