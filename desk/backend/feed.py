"""Price feeds: where new market prices come from, and the thread that applies them.

A feed is any ``PriceFeed``; the default is ``RandomWalk``, a seeded simulation, so the whole
market works offline. ``FeedRunner`` takes new prices from the feed on an interval and stores
them with a bounded history, and the market publishes a ``price`` event for each tick.
"""

from __future__ import annotations

import abc
import logging
import math
import random
import threading
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from desk.backend import schemas
from desk.backend.coordination import Leadership, SoleLeadership
from desk.backend.events import PriceEvent
from desk.backend.models import USD_PLACES
from desk.backend.money import AI_TOKENS, BTC, PRICE_PLACES, divide, multiply, truncate

if TYPE_CHECKING:
    from desk.backend.market import Market

log = logging.getLogger(__name__)

PriceUpdate = dict[str, tuple[Decimal, Decimal]]
"""New prices: asset -> (price in BTC, price in USD)."""

MIN_PRICE_USD = Decimal(1).scaleb(-USD_PLACES)
MIN_PRICE_BTC = Decimal(1).scaleb(-PRICE_PLACES)


class PriceFeed(abc.ABC):
    """A source of market prices."""

    @abc.abstractmethod
    def next_prices(self, current: Mapping[str, schemas.Price]) -> PriceUpdate:
        """Return the next price of every asset, given the current ones."""


class RandomWalk(PriceFeed):
    """A geometric random walk of each asset's USD price; the same seed gives the same walk.

    Each tick multiplies a price by ``exp(volatility × z)`` with ``z`` drawn from a standard
    normal distribution, so prices stay positive. BTC walks too, and every AI token's BTC price
    is its USD price divided by BTC's, rounded down to 12 places.
    """

    def __init__(self, seed: int | None = None, volatility: float = 0.002) -> None:
        if not 0 <= volatility <= 1:
            raise ValueError(f"volatility must be between 0 and 1, got {volatility}")
        self.volatility = volatility
        self._random = random.Random(seed)

    def next_prices(self, current: Mapping[str, schemas.Price]) -> PriceUpdate:
        btc_usd = self._step(current[BTC].price_usd)
        update: PriceUpdate = {BTC: (Decimal(1), btc_usd)}
        for token in AI_TOKENS:
            if token not in current:
                continue
            usd = self._step(current[token].price_usd)
            btc = max(truncate(divide(usd, btc_usd), PRICE_PLACES), MIN_PRICE_BTC)
            update[token] = (btc, usd)
        return update

    def _step(self, price: Decimal) -> Decimal:
        factor = Decimal(repr(math.exp(self.volatility * self._random.gauss(0.0, 1.0))))
        return max(truncate(multiply(price, factor), USD_PLACES), MIN_PRICE_USD)


class FeedRunner:
    """Applies a feed to a market every ``interval`` seconds on a background thread.

    Of several processes on one database, only the holder of ``leadership`` moves prices. With
    ``follow``, the others read the stored prices on the same interval and publish a tick to
    their own subscribers when the prices changed; without it they rely on another channel
    (such as the PostgreSQL relay) to hear of ticks.
    """

    def __init__(self, market: Market, feed: PriceFeed, interval: float,
                 history_limit: int = 1000, leadership: Leadership | None = None,
                 follow: bool = False) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval}")
        self.market = market
        self.feed = feed
        self.interval = interval
        self.history_limit = history_limit
        self.leadership = leadership or SoleLeadership()
        self.follow = follow
        self._last_seen: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> list[schemas.Price]:
        """Move prices one step now; return the new prices."""
        current = {price.token_type: price for price in self.market.prices()}
        update = self.feed.next_prices(current)
        return self.market.update_prices(update, keep=self.history_limit)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="price-feed", daemon=True)
        self._thread.start()
        log.info("price feed started: a tick every %.3g s", self.interval)

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)
        self._thread = None
        self.leadership.release()
        log.info("price feed stopped")

    def step(self) -> None:
        """Tick if this process leads; otherwise, with ``follow``, pass on stored changes."""
        if self.leadership.acquire():
            self.tick()
        elif self.follow:
            self._follow()

    def _follow(self) -> None:
        prices = self.market.prices()
        newest = max((price.last_updated for price in prices), default=None)
        if newest is not None and newest != self._last_seen:
            if self._last_seen is not None:
                self.market.events.deliver(PriceEvent(prices=prices))
            self._last_seen = newest

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.step()
            except Exception:
                # A failed tick (a locked or unreachable database) is skipped, not fatal.
                log.exception("price feed tick failed; trying again in %.3g s", self.interval)
