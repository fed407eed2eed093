"""The server's cache of the prices response: it changes with every tick and never goes back.

The application runs in this process through httpx's ASGI transport, on SQLite and on
PostgreSQL. Its cache may be up to two feed intervals old; these apps have an interval of an
hour, so only events can refresh it within a test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from desk.backend import Market, schemas
from desk.backend.events import PriceEvent, ResyncEvent
from desk.backend.feed import FeedRunner, RandomWalk
from desk.backend.pricing import store_prices
from desk.backend.server import create_app
from desk.backend.server.price_cache import PriceCache, encode_prices
from desk.backend.server.routes.stream import StreamOptions

HOUR = 3600.0


@pytest.fixture
async def http(market: Market) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(market, stream_options=StreamOptions(feed_interval=HOUR))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://desk.test") as client:
        yield client
    app.state.price_cache.stop()


def tick(market: Market, seed: int = 3) -> list[schemas.Price]:
    return FeedRunner(market, RandomWalk(seed=seed, volatility=0.05), interval=HOUR).tick()


def as_json(prices: list[schemas.Price]) -> list[dict[str, Any]]:
    return [price.model_dump(mode="json") for price in prices]


def write_prices_without_event(market: Market) -> None:
    """Change the stored prices as another process would, without telling this one."""
    update = {price.token_type: (price.price_btc, price.price_usd * 2)
              for price in market.prices()}
    with market.database.write() as connection:
        store_prices(connection, update, market.clock())


async def test_prices_response_matches_database(http: httpx.AsyncClient,
                                                market: Market) -> None:
    response = await http.get("/api/market/prices")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == as_json(market.prices())


async def test_get_after_tick_shows_tick(http: httpx.AsyncClient, market: Market) -> None:
    before = (await http.get("/api/market/prices")).json()

    ticked = tick(market)
    after = (await http.get("/api/market/prices")).json()

    assert after == as_json(ticked)
    assert after != before
    assert after == as_json(market.prices())


async def test_resync_clears_cached_prices(http: httpx.AsyncClient, market: Market) -> None:
    before = (await http.get("/api/market/prices")).json()
    write_prices_without_event(market)

    cached = (await http.get("/api/market/prices")).json()
    market.events.deliver(ResyncEvent())
    reread = (await http.get("/api/market/prices")).json()

    assert cached == before
    assert reread == as_json(market.prices())
    assert reread != before


class ManualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_old_body_is_read_again(market: Market) -> None:
    clock = ManualClock()
    cache = PriceCache(market, max_age=2.0, clock=clock)
    cache.start()
    try:
        first = cache.load()
        write_prices_without_event(market)
        clock.now = 1.9
        still_cached = cache.cached()
        clock.now = 2.0
        expired = cache.cached()
        reloaded = cache.load()
    finally:
        cache.stop()

    assert still_cached == first
    assert expired is None
    assert reloaded == encode_prices(market.prices())
    assert reloaded != first


class TickingMarket(Market):
    """A market whose feed ticks while a reader is between its query and its return, as a
    tick on another thread can."""

    def prices(self) -> list[schemas.Price]:
        stale = super().prices()
        if getattr(self, "tick_during_read", False):
            self.tick_during_read = False
            tick(self)
        return stale


def test_read_overtaken_by_tick_keeps_tick(market: Market) -> None:
    ticking = TickingMarket(market.database, market.config)
    cache = PriceCache(ticking, max_age=HOUR)
    cache.start()
    try:
        before = encode_prices(ticking.prices())
        ticking.tick_during_read = True
        returned = cache.load()
        kept = cache.cached()
    finally:
        cache.stop()

    assert returned == before
    assert kept == encode_prices(ticking.prices())
    assert kept != before


def test_cache_follows_price_events_only(market: Market) -> None:
    cache = PriceCache(market, max_age=HOUR)
    cache.start()
    try:
        assert not market.events.has_listeners("balance")
        assert not market.events.has_listeners("trade")
        assert market.events.has_listeners("price")
        event = PriceEvent(prices=[price.model_copy(update={"price_usd": Decimal("7")})
                                   for price in market.prices()])
        market.events.deliver(event)
        assert cache.cached() == encode_prices(event.prices)
    finally:
        cache.stop()
    assert not market.events.has_listeners()
