"""An asset's recent prices as the desk keeps them for sparklines and charts."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from desk.backend.schemas import Price, PricePoint


@dataclass(frozen=True)
class Point:
    """One price of an asset at one time."""

    at: datetime
    price_btc: Decimal
    price_usd: Decimal


class PriceHistory:
    """The newest ``limit`` prices of one asset, oldest first, one point per time.

    It starts from the market's stored history (``seed``) and grows with each tick (``add``).
    A tick that arrived before the stored history did is kept if it is newer than all of it.
    """

    def __init__(self, limit: int) -> None:
        self.points: deque[Point] = deque(maxlen=limit)

    def __len__(self) -> int:
        return len(self.points)

    def seed(self, stored: Iterable[PricePoint]) -> None:
        """Replace the older points with ``stored``, the market's history, oldest first."""
        seeded = [Point(point.at, point.price_btc, point.price_usd) for point in stored]
        if seeded:
            newest = seeded[-1].at
            seeded.extend(point for point in self.points if point.at > newest)
        else:
            seeded = list(self.points)
        self.points.clear()
        self.points.extend(seeded)

    def add(self, price: Price) -> bool:
        """Append ``price`` if it is newer than the newest point; return whether it was."""
        if self.points and price.last_updated <= self.points[-1].at:
            return False
        self.points.append(Point(price.last_updated, price.price_btc, price.price_usd))
        return True

    def usd_values(self) -> list[float]:
        """Return the USD prices as floats, for drawing only."""
        return [float(point.price_usd) for point in self.points]
