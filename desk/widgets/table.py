"""A data table that refreshes in place, and a view that adds loading and empty states."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

Cell = str | Text
Row = tuple[Hashable, Sequence[Cell]]
"""A row: its key (such as a trade id) and its cells in column order."""


def right(text: str, style: str = "") -> Text:
    """Return a right-aligned cell, for numbers."""
    return Text(text, style=style, justify="right")


class KeyedTable(DataTable[Cell]):
    """A row-cursor ``DataTable`` whose rows are replaced by key with ``show_rows``.

    ``DataTable.clear`` resets the cursor and the scroll position, and redraws every row, so
    ``show_rows`` updates the cells that changed, removes rows that are gone and appends new
    ones. It rebuilds the table only when the order of the kept rows changed, and even then
    the cursor stays on the row with the same key.
    """

    def __init__(self, columns: Sequence[tuple[str, str]], *, id: str | None = None) -> None:
        # One space before each cell instead of DataTable's padding of one on both sides:
        # that saves a column per field and lets the portfolio's seven columns fit 80 cells.
        super().__init__(id=id, cursor_type="row", zebra_stripes=True, cell_padding=0)
        self._columns = columns
        self._keys: dict[str, Any] = {}

    def on_mount(self) -> None:
        for key, label in self._columns:
            justify = "left" if key in self.left_columns else "right"
            self.add_column(_padded(Text(label, justify=justify)), key=key)

    left_columns: frozenset[str] = frozenset()
    """Keys of the columns that hold text; the others are right-aligned numbers."""

    @property
    def selected_key(self) -> Any:
        """The key of the row under the cursor, or None when the table is empty."""
        if self.row_count == 0:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return self._keys.get(row_key.value or "")

    @property
    def keys(self) -> list[Any]:
        """The keys of the rows, in the order shown."""
        return [self._keys[row.key.value or ""] for row in self.ordered_rows]

    def cell_text(self, key: Hashable, column: str) -> str:
        """Return the text of one cell, without the padding."""
        value = self.get_cell(str(key), column)
        return (value.plain if isinstance(value, Text) else value).strip()

    def show_rows(self, new_rows: Sequence[Row]) -> None:
        """Show exactly ``new_rows``, in order, keeping the cursor's row and the scroll offset.

        ``DataTable`` row keys are strings; the rows' own keys (trade ids, say) are kept
        beside them and returned by ``selected_key`` and ``keys``.
        """
        self._keys = {str(key): key for key, _ in new_rows}
        rows = [(str(key), cells) for key, cells in new_rows]
        selected = self._selected_string()
        cursor_row = self.cursor_row
        scroll_y = self.scroll_y
        current = [row.key.value for row in self.ordered_rows]
        new_key_set = {key for key, _ in rows}
        kept_keys = [key for key in current if key in new_key_set]
        new_keys = [key for key, _ in rows]

        if kept_keys and new_keys[: len(kept_keys)] == kept_keys:
            for key in current:
                if key not in new_key_set:
                    self.remove_row(key)
            cells_by_key = dict(rows)
            for key in kept_keys:
                self._update_row(key, [_padded(cell) for cell in cells_by_key[key]])
            for key, cells in rows[len(kept_keys):]:
                self.add_row(*map(_padded, cells), key=key)
        else:
            self.clear()
            for key, cells in rows:
                self.add_row(*map(_padded, cells), key=key)

        # DataTable measures new cells when its own message queue goes idle, and these calls
        # come from the screen's queue: a message to the table makes it measure them now.
        self.call_later(self.refresh)
        if not rows:
            return
        if selected in new_key_set:
            target = new_keys.index(selected)
        else:
            target = min(cursor_row, len(rows) - 1)
        self.move_cursor(row=target, scroll=False)
        self.scroll_to(y=scroll_y, animate=False, immediate=True)
        if not self._row_visible(target):
            self.move_cursor(row=target, scroll=True)

    def _selected_string(self) -> str | None:
        if self.row_count == 0:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return row_key.value

    def _update_row(self, key: str, cells: Sequence[Cell]) -> None:
        old = self.get_row(key)
        for (column_key, _), before, after in zip(self._columns, old, cells, strict=True):
            if _plain(before) != _plain(after) or _style(before) != _style(after):
                # A wider value (a price arriving after the balances, say) widens its column.
                self.update_cell(key, column_key, after, update_width=True)

    def _row_visible(self, index: int) -> bool:
        top = self.scroll_y
        height = max(1, self.scrollable_content_region.height - self.header_height)
        return top <= index < top + height


def _padded(cell: Cell) -> Text:
    text = cell if isinstance(cell, Text) else Text(cell)
    padded = Text(" ", justify=text.justify)
    padded.append_text(text)
    return padded


def _plain(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Text) else cell


def _style(cell: Cell) -> str:
    return str(cell.style) if isinstance(cell, Text) else ""


class DataView(Vertical):
    """A ``KeyedTable`` with a loading state before its first rows and a note when empty.

    On later loads the old rows stay visible until the new ones arrive.
    """

    DEFAULT_CSS = """
    DataView { height: 1fr; }
    DataView > .empty {
        display: none;
        height: auto;
        padding: 1 2;
        color: $text-muted;
        text-align: center;
    }
    DataView.-empty > .empty { display: block; }
    DataView.-empty > KeyedTable { height: auto; max-height: 3; }
    """

    def __init__(self, table: KeyedTable, empty: str, *, id: str | None = None,
                 focus: bool = False) -> None:
        """Wrap ``table``; with ``focus``, the table takes focus when its first rows arrive."""
        super().__init__(id=id)
        table.set_class(focus, "-focus-on-load")
        self.table = table
        self.empty_text = empty
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield self.table
        yield Static(self.empty_text, classes="empty")

    def on_mount(self) -> None:
        self.table.loading = True

    def show_rows(self, rows: Sequence[Row]) -> None:
        """Show ``rows``, or the empty note when there are none."""
        first = not self.loaded
        self.loaded = True
        self.table.loading = False
        if first and self.screen.focused is None and self.table.has_class("-focus-on-load"):
            # A loading widget cannot take focus, so the screen's first focus waits for data.
            self.table.focus()
        self.table.show_rows(rows)
        self.set_class(not rows, "-empty")

    def failed(self) -> None:
        """Stop the loading state after a failed first load; any old rows stay."""
        self.table.loading = False
