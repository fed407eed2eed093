"""The body of ``GET /api/market/prices``, encoded once per price tick instead of per request.

Prices change only when the feed ticks. Every tick reaches the market's event bus as a
``PriceEvent`` with every asset's new price: from this process's feed, from another server's
through the PostgreSQL relay, or, on SQLite, from the feed runner that follows the stored
prices. The cache stores the JSON of each event's prices, so a request reads no database and
encodes nothing.

Events can be missed: a ``ResyncEvent`` after the relay reconnects clears the cache, and a body
older than ``max_age`` seconds is read again from the database. The server sets ``max_age`` to
twice the feed's interval, so a lost tick delays new prices by at most about one interval more
than a follower of a SQLite database, which reads the stored prices once per interval, already
takes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pydantic import TypeAdapter

from desk.backend import schemas
from desk.backend.events import Event, PriceEvent, Subscription
from desk.backend.market import Market

_prices_adapter: TypeAdapter[list[schemas.Price]] = TypeAdapter(list[schemas.Price])


def encode_prices(prices: list[schemas.Price]) -> bytes:
    """Return the JSON of a prices response, byte for byte as FastAPI writes it."""
    return _prices_adapter.dump_json(prices)


class PriceCache:
    """The encoded current prices of one market, kept up to date by its price events."""

    def __init__(self, market: Market, max_age: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_age <= 0:
            raise ValueError(f"max_age must be positive, got {max_age}")
        self.market = market
        self.max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._body: bytes | None = None
        self._stored_at = 0.0
        # Counts the events that changed the cache, so that a database read that an event
        # overtook does not overwrite the event's newer prices.
        self._generation = 0
        self._subscription: Subscription | None = None

    def start(self) -> None:
        """Subscribe to the market's price and resync events."""
        if self._subscription is None:
            self._subscription = self.market.events.subscribe(self._on_event,
                                                              kinds=["price", "resync"])

    def stop(self) -> None:
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None

    def cached(self) -> bytes | None:
        """Return the stored body, or None if there is none or it is older than ``max_age``."""
        with self._lock:
            if self._body is not None and self._clock() - self._stored_at < self.max_age:
                return self._body
            return None

    def load(self) -> bytes:
        """Read the prices from the database, store their body unless an event came first, and
        return it. Blocks on the database, so async code runs it in a worker thread."""
        with self._lock:
            generation = self._generation
        body = encode_prices(self.market.prices())
        with self._lock:
            if self._generation == generation:
                self._store(body)
        return body

    def _on_event(self, event: Event) -> None:
        body = encode_prices(event.prices) if isinstance(event, PriceEvent) else None
        with self._lock:
            self._generation += 1
            if body is None:
                self._body = None  # a resync: events may have been lost
            else:
                self._store(body)

    def _store(self, body: bytes) -> None:
        self._body = body
        self._stored_at = self._clock()
