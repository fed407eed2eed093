"""A line chart of prices drawn with braille characters, with a price axis and a time axis.

Textual has no plot widget. Each character cell contains a 2×4 grid of braille dots, so a chart
of W×H cells plots 2W×4H dots. Consecutive prices are joined by a line, so a steep move
reads as a line and not as scattered dots.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import tzinfo
from decimal import Decimal

from rich.cells import cell_len
from rich.text import Text
from textual.widget import Widget

from desk.formatting import clock_text
from desk.widgets.price_history import Point

BRAILLE_BASE = 0x2800
# The bit of each dot of a braille cell, by (column, row) within the cell.
DOT_BITS = {
    (0, 0): 0x01, (0, 1): 0x02, (0, 2): 0x04, (0, 3): 0x40,
    (1, 0): 0x08, (1, 1): 0x10, (1, 2): 0x20, (1, 3): 0x80,
}
PRICE_TICKS = 5
"""How many prices the price axis labels, from the highest to the lowest."""
MAX_LABEL_PLACES = 12


def braille_plot(values: Sequence[float], width: int, height: int) -> list[str]:
    """Plot ``values`` left to right as a joined line on ``width``×``height`` cells.

    The lowest value sits on the bottom row of dots and the highest on the top one; equal
    values draw a line across the middle. With more values than dot columns only the newest
    fit; with fewer, they are spread over the whole width.
    """
    columns, rows = width * 2, height * 4
    grid = [[0] * width for _ in range(height)]
    if not values or width <= 0 or height <= 0:
        return ["".join(chr(BRAILLE_BASE + bits) for bits in line) for line in grid]
    values = list(values)[-columns:]
    low, high = min(values), max(values)

    def dot_row(value: float) -> int:
        if high == low:
            return rows // 2
        return round((high - value) / (high - low) * (rows - 1))

    def dot_column(index: int) -> int:
        if len(values) == 1:
            return columns - 1
        return round(index * (columns - 1) / (len(values) - 1))

    def set_dot(column: int, row: int) -> None:
        grid[row // 4][column // 2] |= DOT_BITS[(column % 2, row % 4)]

    previous: tuple[int, int] | None = None
    for index, value in enumerate(values):
        column, row = dot_column(index), dot_row(value)
        if previous is None:
            set_dot(column, row)
        else:
            _join(previous, (column, row), set_dot)
        previous = (column, row)
    return ["".join(chr(BRAILLE_BASE + bits) for bits in line) for line in grid]


def _join(start: tuple[int, int], end: tuple[int, int],
          set_dot: Callable[[int, int], None]) -> None:
    """Set the dots of a line from ``start`` to ``end``: each column gets the rows between."""
    (x0, y0), (x1, y1) = start, end
    span = max(x1 - x0, 1)
    for column in range(x0, x1 + 1):
        # Each column covers the rows from where the line enters it to where it leaves.
        enter = y0 + (y1 - y0) * (column - x0 - 0.5) / span
        leave = y0 + (y1 - y0) * (column - x0 + 0.5) / span
        top = max(min(y0, y1), round(min(enter, leave)))
        bottom = min(max(y0, y1), round(max(enter, leave)))
        for row in range(top, bottom + 1):
            set_dot(column, row)


class PriceChart(Widget):
    """A line chart of ``points`` in USD or BTC, labelled with prices and times.

    ``format_price(value, places)`` writes a label of the price axis. ``places`` is the
    number of decimal places that distinguishes neighbouring labels, and a label may show more.
    """

    DEFAULT_CSS = """
    PriceChart {
        height: 1fr;
        width: 1fr;
        min-height: 6;
    }
    PriceChart > .price-chart--line { color: $text-accent; }
    PriceChart > .price-chart--axis { color: $text-muted; }
    """
    COMPONENT_CLASSES = {"price-chart--line", "price-chart--axis"}

    def __init__(self, format_price: Callable[[Decimal, int], str], *,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.format_price = format_price
        self.points: list[Point] = []
        self.in_btc = False
        self.zone: tzinfo | None = None

    def plot(self, points: Sequence[Point], *, in_btc: bool, zone: tzinfo | None) -> None:
        """Draw ``points``, oldest first, in BTC or USD, with times in ``zone``."""
        self.points = list(points)
        self.in_btc = in_btc
        self.zone = zone
        self.refresh()

    def render(self) -> Text:
        width, height = self.size.width, self.size.height
        if not self.points:
            return Text("No prices yet.", style="dim")
        prices = [point.price_btc if self.in_btc else point.price_usd for point in self.points]
        low, high = min(prices), max(prices)
        labels = self._price_labels(low, high, height - 1)
        label_width = max(cell_len(label) for label in labels.values())
        plot_width = max(width - label_width - 2, 1)
        shown = self.points[-plot_width * 2:]
        values = [float(point.price_btc if self.in_btc else point.price_usd) for point in shown]
        lines = braille_plot(values, plot_width, height - 1)

        line_style = self.get_component_rich_style("price-chart--line")
        axis_style = self.get_component_rich_style("price-chart--axis")
        text = Text(no_wrap=True, overflow="crop")
        for row, line in enumerate(lines):
            text.append(labels.get(row, "").rjust(label_width), style=axis_style)
            text.append(" ┤" if row in labels else " │", style=axis_style)
            text.append(line, style=line_style)
            text.append("\n")
        text.append(" " * label_width + " └", style=axis_style)
        text.append(self._time_axis(shown, plot_width), style=axis_style)
        return text

    def _price_labels(self, low: Decimal, high: Decimal, rows: int) -> dict[int, str]:
        """Return the price label of each labelled row, from ``high`` on top to ``low``."""
        if rows <= 1:
            return {0: self.format_price(high, 0)}
        count = min(PRICE_TICKS, rows)
        step = (high - low) / (count - 1)
        # Two significant digits of the step between labels keep each label distinct.
        places = min(max(1 - step.adjusted(), 0), MAX_LABEL_PLACES) if step else 0
        labels: dict[int, str] = {}
        for index in range(count):
            row = round(index * (rows - 1) / (count - 1))
            labels[row] = self.format_price(high - step * index, places)
        return labels

    def _time_axis(self, shown: Sequence[Point], width: int) -> str:
        """Write the time of the first shown point at the left and of the last at the right."""
        first = clock_text(shown[0].at, self.zone)
        last = clock_text(shown[-1].at, self.zone)
        if len(shown) == 1 or width < cell_len(first) + cell_len(last) + 1:
            return last.rjust(width)
        return first + last.rjust(width - cell_len(first))

