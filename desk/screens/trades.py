"""Open trades: the offer book a page at a time, filtered by pair and owner.

The book is read with keyset cursors, ``PAGE_SIZE`` offers a page. A page costs the same with
ten offers or ten thousand, because the screen never loads the whole book.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Checkbox, DataTable, Label, Select, Static
from textual.worker import get_current_worker

from desk.backend.errors import DeskError
from desk.backend.money import ASSETS
from desk.backend.trading import payment_for
from desk.export import TRADE_HEADER, export_file, trade_rows, write_csv
from desk.formatting import age_text, amount_text, count_text, rate_text
from desk.screens.base import DeskScreen
from desk.widgets.checkbox import TickCheckbox
from desk.widgets.table import DataView, KeyedTable, Row, right

if TYPE_CHECKING:
    from desk.backend.schemas import Trade, TradePage

PAGE_SIZE = 100
EXPORT_PAGE_SIZE = 200
AGE_INTERVAL_SECONDS = 10.0
# Price ticks reload the book at most this often.
TICK_RELOAD_SECONDS = 2.0
ANY = ""

COLUMNS = (
    ("id", "ID"),
    ("pair", "Pair"),
    ("amount", "Amount"),
    ("rate", "Rate"),
    ("pays", "Taker pays"),
    ("creator", "Creator"),
    ("age", "Age"),
)


@dataclass(frozen=True)
class BookFilter:
    """A filter of the book: each side of the pair (None for any) and the trader's own only."""

    from_token: str | None = None
    to_token: str | None = None
    mine: bool = False


class OffersTable(KeyedTable):
    """The offer book's rows, keyed by trade id."""

    left_columns = frozenset({"pair", "creator"})

    def __init__(self) -> None:
        super().__init__(COLUMNS, id="offers")


def mine_label(mine: bool) -> str:
    """Label the owner filter with its state in words, not only the checkbox's colour."""
    return "Mine only (m): on" if mine else "Mine only (m): off"


def creator_name(trade: Trade, user_id: int | None) -> str:
    """Name an offer's creator: "you" for the trader's own, else the trader's id."""
    return "you" if trade.creator_id == user_id else f"#{trade.creator_id}"


class OpenTradesScreen(DeskScreen):
    """The active offers, oldest first.

    | key | action |
    | --- | --- |
    | n | post a new offer |
    | t, enter | take the selected offer |
    | x | cancel the selected offer (your own) |
    | ] / [ | next / previous page |
    | f | choose the pair |
    | m | only your own offers, or everyone's |
    | e | export the offers that match the filter to CSV |
    """

    SECTION = "trades"
    DEFAULT_CSS = """
    OpenTradesScreen #book-filter { height: 1; padding: 0 1; }
    OpenTradesScreen .filter-label { padding: 0 1 0 0; color: $text-muted; }
    OpenTradesScreen #book-filter Select { width: 18; margin: 0 2 0 0; }
    OpenTradesScreen #book-filter Checkbox { width: auto; }
    """
    BINDINGS: ClassVar[list[Any]] = [
        Binding("n", "new_offer", "New offer", id="trades.new",
                tooltip="Post an offer of your own"),
        Binding("t", "take", "Take", id="trades.take", tooltip="Take the selected offer"),
        Binding("x", "cancel_offer", "Cancel offer", id="trades.cancel",
                tooltip="Cancel the selected offer, if it is yours"),
        # The page keys are named in the status line under the table instead of the footer.
        Binding("right_square_bracket", "page(1)", "Next page", id="trades.next", key_display="]",
                show=False, tooltip="Show the next page of offers"),
        Binding("left_square_bracket", "page(-1)", "Previous page", id="trades.previous",
                key_display="[", show=False, tooltip="Show the previous page of offers"),
        Binding("f", "focus_filter", "Filter", id="trades.filter",
                tooltip="Choose the pair of tokens to list"),
        Binding("m", "toggle_mine", "Mine only", id="trades.mine", show=False,
                tooltip="List only your own offers, or everyone's"),
        Binding("e", "export", "Export CSV", id="trades.export", show=False,
                tooltip="Write the offers that match the filter to a CSV file"),
    ]

    ERROR_TITLES: ClassVar[dict[str, str]] = {
        "offers": "Offers not loaded",
        "take": "Offer not taken",
        "cancel": "Offer not cancelled",
        "export": "Export failed",
    }
    ACTION_GROUPS: ClassVar[frozenset[str]] = frozenset({"take", "cancel", "export"})

    class PageLoaded(Message):
        """A page of the book arrived for the filter and page start it was asked for."""

        def __init__(self, page: TradePage, book_filter: BookFilter, start: str | None) -> None:
            super().__init__()
            self.page = page
            self.book_filter = book_filter
            self.start = start

    class Exported(Message):
        def __init__(self, path: Path, count: int) -> None:
            super().__init__()
            self.path = path
            self.count = count

    def __init__(self) -> None:
        super().__init__()
        self.book_filter = BookFilter()
        # The cursor that starts each page seen so far; page 1 starts at None.
        self.page_starts: list[str | None] = [None]
        self.next_cursor: str | None = None
        self.trades: dict[int, Trade] = {}
        self.page_loaded = False
        # Whether a page key was pressed and its page has not arrived yet.
        self.page_pending = False
        self._tick_loaded_at = -TICK_RELOAD_SECONDS

    def compose_body(self) -> ComposeResult:
        options = [("any", ANY), *[(asset, asset) for asset in ASSETS]]
        with Horizontal(id="book-filter"):
            yield Label("Offered", classes="filter-label")
            yield Select(options, value=ANY, allow_blank=False, compact=True, id="filter-from")
            yield Label("Wanted", classes="filter-label")
            yield Select(options, value=ANY, allow_blank=False, compact=True, id="filter-to")
            yield TickCheckbox(mine_label(False), compact=True, id="filter-mine")
        yield DataView(OffersTable(), "No open offers match. Press n to post one.",
                       id="offers-view", focus=True)
        yield Static("", id="page-status", classes="status-line")

    def on_mount(self) -> None:
        super().on_mount()
        self.watch(self.app, "prices_at", self._tick, init=False)
        self.set_interval(AGE_INTERVAL_SECONDS, self._show_rows)
        self.query_one(OffersTable).focus()

    def _tick(self, _: object) -> None:
        # Trade events reload the book at once. They do not cross processes that share a
        # SQLite file (only PostgreSQL relays them), so price ticks, which do, also reload it.
        if not self.is_current or self.app.connection_problem:
            return
        now = time.monotonic()
        if now - self._tick_loaded_at >= TICK_RELOAD_SECONDS:
            self._tick_loaded_at = now
            self._load()

    # Loading

    @property
    def page_number(self) -> int:
        return len(self.page_starts)

    def reload(self) -> None:
        self._load()

    def _load(self) -> None:
        self._fetch_page(self.book_filter, self.page_starts[-1])

    @work(thread=True, group="offers", exclusive=True, exit_on_error=False)
    def _fetch_page(self, book_filter: BookFilter, start: str | None) -> None:
        page = self.app.backend().list_offers(
            from_token=book_filter.from_token, to_token=book_filter.to_token,
            mine=book_filter.mine, limit=PAGE_SIZE, cursor=start)
        if not get_current_worker().is_cancelled:
            self.post_message(self.PageLoaded(page, book_filter, start))

    def worker_failed(self, group: str, error: BaseException | None) -> bool:
        if group == "offers":
            self.page_pending = False
            self.query_one(DataView).failed()
        return False

    def on_open_trades_screen_page_loaded(self, event: PageLoaded) -> None:
        if event.book_filter != self.book_filter or event.start != self.page_starts[-1]:
            return  # the trader changed the filter or page since this call started
        if not event.page.trades and self.page_number > 1:
            # The page emptied (its offers were taken); step back to the previous one.
            self.page_starts.pop()
            self._load()
            return
        self.page_loaded = True
        self.page_pending = False
        self.trades = {trade.id: trade for trade in event.page.trades}
        self.next_cursor = event.page.next_cursor
        self._show_rows()

    def _show_rows(self) -> None:
        view = self.query_one(DataView)
        if not self.page_loaded:
            return  # keep the loading state until the first page arrives
        now = self.app.clock()
        user_id = self.app.user_id
        rows: list[Row] = []
        for trade in self.trades.values():
            payment = payment_for(trade.amount, trade.exchange_rate, trade.to_token)
            mine = trade.creator_id == user_id
            rows.append((trade.id, [
                right(str(trade.id)),
                Text(f"{trade.from_token}→{trade.to_token}"),
                right(amount_text(trade.amount, trade.from_token)),
                right(rate_text(trade.exchange_rate)),
                right(amount_text(payment, trade.to_token)),
                Text(creator_name(trade, user_id), style="bold" if mine else ""),
                right(age_text(trade.created_at, now)),
            ]))
        view.show_rows(rows)
        self._show_status()

    def _show_status(self) -> None:
        parts = [f"Page {self.page_number}"]
        first = (self.page_number - 1) * PAGE_SIZE + 1
        if self.trades:
            parts.append(f"offers {first}–{first + len(self.trades) - 1}")
        parts.append(f"{PAGE_SIZE} a page")
        if self.next_cursor:
            parts.append("] next page")
        if self.page_number > 1:
            parts.append("[ previous page")
        self.query_one("#page-status", Static).update(" · ".join(parts))

    # Filter and pages

    @on(Select.Changed, "#filter-from")
    @on(Select.Changed, "#filter-to")
    @on(Checkbox.Changed, "#filter-mine")
    def _filter_changed(self) -> None:
        source = self.query_one("#filter-from", Select).value
        target = self.query_one("#filter-to", Select).value
        mine = self.query_one("#filter-mine", Checkbox)
        mine.label = mine_label(mine.value)
        book_filter = BookFilter(
            from_token=source if isinstance(source, str) and source else None,
            to_token=target if isinstance(target, str) and target else None,
            mine=mine.value,
        )
        if book_filter != self.book_filter:
            self.book_filter = book_filter
            self.page_starts = [None]
            self._load()

    def action_focus_filter(self) -> None:
        self.query_one("#filter-from", Select).focus()

    def action_toggle_mine(self) -> None:
        self.query_one("#filter-mine", Checkbox).toggle()

    def action_page(self, step: int) -> None:
        if step > 0:
            if self.page_pending:
                # The next page's cursor comes with the page on its way; the old one would
                # count that same page twice.
                self.notify("The page is still loading.", title="Open trades")
                return
            if not self.next_cursor:
                self.notify("This is the last page.", title="Open trades")
                return
            self.page_starts.append(self.next_cursor)
        else:
            if self.page_number == 1:
                self.notify("This is the first page.", title="Open trades")
                return
            self.page_starts.pop()
        self.page_pending = True
        self.query_one(OffersTable).move_cursor(row=0)
        self._load()

    # Actions on the selected offer

    def _selected(self) -> Trade | None:
        key = self.query_one(OffersTable).selected_key
        trade = self.trades.get(key) if key is not None else None
        if trade is None:
            self.notify("Select an offer first.", title="Open trades", severity="warning")
        return trade

    @on(DataTable.RowSelected, "#offers")
    def _row_selected(self) -> None:
        self.action_take()

    def action_take(self) -> None:
        from desk.screens.take import ConfirmTakeDialog

        trade = self._selected()
        if trade is None:
            return
        if trade.creator_id == self.app.user_id:
            self.notify(f"Offer {trade.id} is your own; press x to cancel it.",
                        title="Open trades", severity="warning")
            return

        def confirmed(take: bool | None) -> None:
            if take:
                self._execute(trade.id)

        creator = f"trader #{trade.creator_id}"
        self.app.push_screen(ConfirmTakeDialog(trade, creator), confirmed)

    @work(thread=True, group="take", exit_on_error=False)
    def _execute(self, trade_id: int) -> None:
        try:
            trade = self.app.backend().execute_offer(trade_id)
        except DeskError as error:
            self.app.call_from_thread(self.app.report_error, error,
                                      f"Offer {trade_id} not taken", action=True)
            return
        self.app.call_from_thread(self._taken, trade)

    def _taken(self, trade: Trade) -> None:
        payment = payment_for(trade.amount, trade.exchange_rate, trade.to_token)
        self.notify(f"Took offer {trade.id}: paid {amount_text(payment, trade.to_token)} "
                    f"{trade.to_token}, received {amount_text(trade.amount, trade.from_token)} "
                    f"{trade.from_token}.", title="Offer taken")
        self.app.market_changed()

    def action_cancel_offer(self) -> None:
        from desk.screens.cancel import ConfirmCancelDialog

        trade = self._selected()
        if trade is None:
            return
        if trade.creator_id != self.app.user_id:
            self.notify(f"Offer {trade.id} is not yours; only its creator can cancel it.",
                        title="Open trades", severity="warning")
            return

        def confirmed(cancel: bool | None) -> None:
            if cancel:
                self._cancel(trade.id)

        self.app.push_screen(ConfirmCancelDialog(trade), confirmed)

    @work(thread=True, group="cancel", exit_on_error=False)
    def _cancel(self, trade_id: int) -> None:
        try:
            trade = self.app.backend().cancel_offer(trade_id)
        except DeskError as error:
            self.app.call_from_thread(self.app.report_error, error,
                                      f"Offer {trade_id} not cancelled", action=True)
            return
        self.app.call_from_thread(self._cancelled, trade)

    def _cancelled(self, trade: Trade) -> None:
        self.notify(f"Cancelled offer {trade.id}; "
                    f"{amount_text(trade.amount, trade.from_token)} {trade.from_token} "
                    "is available again.", title="Offer cancelled")
        self.app.market_changed()

    def action_new_offer(self) -> None:
        from desk.screens.new_offer import NewOfferDialog

        source = self.book_filter.from_token or "OpenAI"
        target = self.book_filter.to_token or ("Anthropic" if source != "Anthropic" else "OpenAI")

        def posted(trade: Trade | None) -> None:
            if trade is not None:
                self.notify(f"Posted offer {trade.id}: "
                            f"{amount_text(trade.amount, trade.from_token)} {trade.from_token} "
                            f"for {rate_text(trade.exchange_rate)} {trade.to_token} each.",
                            title="Offer posted")
                self.app.market_changed()

        self.app.push_screen(NewOfferDialog(source, target), posted)

    # Export

    def action_export(self) -> None:
        folder = self.app.export_dir or Path.cwd()
        self._export(self.book_filter, folder)

    @work(thread=True, group="export", exit_on_error=False)
    def _export(self, book_filter: BookFilter, folder: Path) -> None:
        backend = self.app.backend()
        trades: list[Trade] = []
        cursor: str | None = None
        while True:
            page = backend.list_offers(from_token=book_filter.from_token,
                                       to_token=book_filter.to_token, mine=book_filter.mine,
                                       limit=EXPORT_PAGE_SIZE, cursor=cursor)
            trades.extend(page.trades)
            cursor = page.next_cursor
            if cursor is None:
                break
        path = export_file(folder, "open-trades", self.app.clock())
        count = write_csv(path, TRADE_HEADER, trade_rows(trades))
        self.post_message(self.Exported(path, count))

    def on_open_trades_screen_exported(self, event: Exported) -> None:
        self.notify(f"Wrote {count_text(event.count, 'offer')} to {event.path.resolve()}",
                    title="Exported")
