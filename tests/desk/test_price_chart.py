"""The braille line chart: where its dots fall; and the price history that it draws."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from desk.widgets.price_chart import BRAILLE_BASE, braille_plot
from desk.widgets.price_history import Point, PriceHistory

BLANK = chr(BRAILLE_BASE)
FULL = chr(BRAILLE_BASE + 0xFF)


def dots(lines: list[str]) -> set[tuple[int, int]]:
    """Return the (column, row) of every set dot in plotted ``lines``."""
    bits = {0x01: (0, 0), 0x02: (0, 1), 0x04: (0, 2), 0x40: (0, 3),
            0x08: (1, 0), 0x10: (1, 1), 0x20: (1, 2), 0x80: (1, 3)}
    found = set()
    for row, line in enumerate(lines):
        for column, char in enumerate(line):
            value = ord(char) - BRAILLE_BASE
            for bit, (dx, dy) in bits.items():
                if value & bit:
                    found.add((column * 2 + dx, row * 4 + dy))
    return found


def test_plot_rising_line_corners() -> None:
    lines = braille_plot([1.0, 2.0, 3.0, 4.0], width=2, height=1)
    assert len(lines) == 1
    found = dots(lines)
    assert (0, 3) in found  # the lowest value on the bottom row, at the left
    assert (3, 0) in found  # the highest on the top row, at the right
    assert (0, 0) not in found


def test_plot_joins_steep_moves() -> None:
    found = dots(braille_plot([0.0, 1.0], width=1, height=2))
    # Every row between the two values has a dot, so the move reads as a line.
    assert {row for _, row in found} == set(range(8))


def test_plot_flat_values_in_middle() -> None:
    found = dots(braille_plot([5.0, 5.0, 5.0], width=3, height=2))
    assert {row for _, row in found} == {4}
    assert {column for column, _ in found} == set(range(6))


def test_plot_keeps_newest_values() -> None:
    values = [9.0] * 10 + [1.0, 2.0]
    found = dots(braille_plot(values, width=3, height=1))
    # Six dot columns show the newest six values: four nines, then the low one and the next.
    assert (0, 0) in found
    assert (4, 3) in found


def test_plot_empty() -> None:
    assert braille_plot([], width=3, height=2) == [BLANK * 3, BLANK * 3]
    assert FULL not in "".join(braille_plot([1.0], width=2, height=1))


def test_history_seed_keeps_newer_ticks() -> None:
    start = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
    history = PriceHistory(limit=5)
    from desk.backend.schemas import Price, PricePoint

    def price(seconds: int, usd: str) -> Price:
        return Price(token_type="OpenAI", price_btc=Decimal("0.00001"),
                     price_usd=Decimal(usd), last_updated=start + timedelta(seconds=seconds))

    assert history.add(price(10, "1.10"))
    assert not history.add(price(10, "1.10"))
    assert not history.add(price(5, "1.05"))
    stored = [PricePoint(price_btc=Decimal("0.00001"), price_usd=Decimal(f"1.0{second}"),
                         at=start + timedelta(seconds=second)) for second in range(4)]
    history.seed(stored)
    assert [point.at.second for point in history.points] == [0, 1, 2, 3, 10]
    assert isinstance(history.points[0], Point)
    assert history.add(price(12, "1.12"))
    assert len(history) == 5
    assert history.usd_values() == [1.01, 1.02, 1.03, 1.10, 1.12]
