"""The background parts of a running market: the price feed and the cross-process relay."""

from __future__ import annotations

import logging

from desk.backend.coordination import PostgresRelay, leadership_for
from desk.backend.feed import FeedRunner, PriceFeed
from desk.backend.market import Market

log = logging.getLogger(__name__)


class MarketRuntime:
    """Starts and stops the price feed and, on PostgreSQL, the LISTEN/NOTIFY event relay.

    Every process on one database runs one of these (a server or an embedded desk). Only one
    of them moves prices at a time; the others pass the ticks on to their own subscribers.
    """

    def __init__(self, market: Market, feed: PriceFeed, interval: float,
                 history_limit: int = 1000) -> None:
        self.market = market
        postgres = market.database.dialect == "postgresql"
        self.relay = PostgresRelay(market.database, market.events) if postgres else None
        self.feed = FeedRunner(market, feed, interval, history_limit,
                               leadership=leadership_for(market.database),
                               follow=not postgres)

    def start(self) -> None:
        if self.relay is not None:
            self.relay.start()
        self.feed.start()

    def stop(self) -> None:
        self.feed.stop()
        if self.relay is not None:
            self.relay.stop()
