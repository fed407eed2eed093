"""The background parts of a running market: the price feed, the cross-process relay and the
sweeper of expired records."""

from __future__ import annotations

import logging
import threading

from desk.backend.coordination import PostgresRelay, leadership_for
from desk.backend.feed import FeedRunner, PriceFeed
from desk.backend.market import Market

log = logging.getLogger(__name__)

# Seconds between two sweeps of expired idempotency keys and old login attempts.
SWEEP_INTERVAL_SECONDS = 600.0


class Sweeper:
    """Deletes expired idempotency keys and old login attempts every ``interval`` seconds on a
    background thread.

    Expired keys are ignored wherever they are read, so the sweeper only keeps the table
    small. Every process on one database may sweep; deleting twice is harmless.
    """

    def __init__(self, market: Market, interval: float = SWEEP_INTERVAL_SECONDS) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval}")
        self.market = market
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self) -> int:
        """Delete what has expired now; return how many rows."""
        keys = self.market.purge_expired_keys()
        attempts = self.market.purge_login_attempts()
        if keys or attempts:
            log.info("deleted %d expired idempotency keys and %d old login attempts", keys,
                     attempts)
        return keys + attempts

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sweeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=30)
        self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sweep()
            except Exception:
                # A locked or unreachable database: the next sweep tries again.
                log.exception("sweeping expired records failed; trying again in %.0f s",
                              self.interval)


class MarketRuntime:
    """Starts and stops the price feed, the sweeper and, on PostgreSQL, the LISTEN/NOTIFY
    event relay.

    Every process on one database runs one of these (a server or an embedded desk). Only one
    of them moves prices at a time; the others pass the ticks on to their own subscribers.
    """

    def __init__(self, market: Market, feed: PriceFeed, interval: float,
                 history_limit: int = 1000,
                 sweep_interval: float = SWEEP_INTERVAL_SECONDS) -> None:
        self.market = market
        postgres = market.database.dialect == "postgresql"
        self.relay = PostgresRelay(market.database, market.events) if postgres else None
        self.feed = FeedRunner(market, feed, interval, history_limit,
                               leadership=leadership_for(market.database),
                               follow=not postgres)
        self.sweeper = Sweeper(market, sweep_interval)

    def start(self) -> None:
        if self.relay is not None:
            self.relay.start()
        self.feed.start()
        self.sweeper.start()

    def stop(self) -> None:
        self.sweeper.stop()
        self.feed.stop()
        if self.relay is not None:
            self.relay.stop()
