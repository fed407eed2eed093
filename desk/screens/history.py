"""History: the trader's completed and cancelled trades, and the ledger of balance changes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Static
from textual.worker import get_current_worker

from desk.backend.trading import payment_for
from desk.export import (
    LEDGER_HEADER,
    TRADE_HEADER,
    export_file,
    ledger_rows,
    trade_rows,
    write_csv,
)
from desk.formatting import amount_text, count_text, time_text
from desk.screens.base import DeskScreen
from desk.widgets.table import DataView, KeyedTable, Row, right

if TYPE_CHECKING:
    from desk.backend.schemas import LedgerEntry, LedgerPage, Trade, TradePage

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
"""The largest page the market returns (``desk.backend.pagination.MAX_LIMIT``)."""
EXPORT_PAGE_SIZE = 200

TRADE_COLUMNS = (
    ("id", "ID"),
    ("when", "Closed"),
    ("status", "Status"),
    ("side", "Side"),
    ("gave", "You gave"),
    ("got", "You got"),
)
LEDGER_COLUMNS = (
    ("when", "When"),
    ("asset", "Asset"),
    ("amount", "Change"),
    ("reason", "Reason"),
    ("reference", "Reference"),
)


class TradeHistoryTable(KeyedTable):
    left_columns = frozenset({"when", "status", "side", "gave", "got"})

    def __init__(self) -> None:
        super().__init__(TRADE_COLUMNS, id="trade-history")


class LedgerTable(KeyedTable):
    left_columns = frozenset({"when", "asset", "reason", "reference"})

    def __init__(self) -> None:
        super().__init__(LEDGER_COLUMNS, id="ledger")


def trade_sides(trade: Trade, user_id: int | None) -> tuple[str, str, str]:
    """Return the trader's side of a closed trade and what they gave and got, as text."""
    payment = payment_for(trade.amount, trade.exchange_rate, trade.to_token)
    offered = f"{amount_text(trade.amount, trade.from_token)} {trade.from_token}"
    paid = f"{amount_text(payment, trade.to_token)} {trade.to_token}"
    if trade.status == "cancelled":
        return "maker", "—", "—"
    if trade.creator_id == user_id:
        return "maker", offered, paid
    return "taker", paid, offered


class HistoryScreen(DeskScreen):
    """Closed trades on top and the ledger below, newest first.

    | key | action |
    | --- | --- |
    | tab | move between the two tables |
    | ] | load more of the focused table |
    | e | export the focused table to CSV, all of it |
    """

    SECTION = "history"
    BINDINGS: ClassVar[list[Any]] = [
        Binding("right_square_bracket", "more", "Load more", id="history.more", key_display="]",
                tooltip="Load the next page of the focused table"),
        Binding("e", "export", "Export CSV", id="history.export",
                tooltip="Write all of the focused table to a CSV file"),
    ]

    ERROR_TITLES: ClassVar[dict[str, str]] = {
        "history-trades": "Trades not loaded",
        "history-ledger": "Ledger not loaded",
        "export": "Export failed",
    }
    ACTION_GROUPS: ClassVar[frozenset[str]] = frozenset({"export"})

    class TradesLoaded(Message):
        def __init__(self, page: TradePage, appended: bool) -> None:
            super().__init__()
            self.page = page
            self.appended = appended

    class LedgerLoaded(Message):
        def __init__(self, page: LedgerPage, appended: bool) -> None:
            super().__init__()
            self.page = page
            self.appended = appended

    class Exported(Message):
        def __init__(self, path: Path, count: int, table_name: str) -> None:
            super().__init__()
            self.path = path
            self.count = count
            self.table_name = table_name

    def __init__(self) -> None:
        super().__init__()
        self.trades: list[Trade] = []
        self.entries: list[LedgerEntry] = []
        self.trades_cursor: str | None = None
        self.ledger_cursor: str | None = None

    def compose_body(self) -> ComposeResult:
        yield Static("Closed trades", classes="section-title")
        yield DataView(TradeHistoryTable(), "No completed or cancelled trades yet.",
                       id="trades-view", focus=True)
        yield Static("Ledger: every change of your balances", classes="section-title")
        yield DataView(LedgerTable(), "No balance changes yet.", id="ledger-view")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(TradeHistoryTable).focus()

    def reload(self) -> None:
        self._load_trades(None)
        self._load_ledger(None)

    @work(thread=True, group="history-trades", exclusive=True, exit_on_error=False)
    def _load_trades(self, cursor: str | None) -> None:
        backend = self.app.backend()
        if cursor:
            page = backend.history(limit=PAGE_SIZE, cursor=cursor)
        else:
            page = backend.history(limit=min(max(PAGE_SIZE, len(self.trades)), MAX_PAGE_SIZE))
            # A reload brings back every row already shown, a page of at most MAX_PAGE_SIZE
            # at a time, so that the rows loaded with ] and the cursor on them stay.
            while page.next_cursor and len(page.trades) < len(self.trades):
                more = backend.history(limit=MAX_PAGE_SIZE, cursor=page.next_cursor)
                page = more.model_copy(update={"trades": [*page.trades, *more.trades]})
        if not get_current_worker().is_cancelled:
            self.post_message(self.TradesLoaded(page, appended=cursor is not None))

    @work(thread=True, group="history-ledger", exclusive=True, exit_on_error=False)
    def _load_ledger(self, cursor: str | None) -> None:
        backend = self.app.backend()
        if cursor:
            page = backend.ledger(limit=PAGE_SIZE, cursor=cursor)
        else:
            page = backend.ledger(limit=min(max(PAGE_SIZE, len(self.entries)), MAX_PAGE_SIZE))
            while page.next_cursor and len(page.entries) < len(self.entries):
                more = backend.ledger(limit=MAX_PAGE_SIZE, cursor=page.next_cursor)
                page = more.model_copy(update={"entries": [*page.entries, *more.entries]})
        if not get_current_worker().is_cancelled:
            self.post_message(self.LedgerLoaded(page, appended=cursor is not None))

    def worker_failed(self, group: str, error: BaseException | None) -> bool:
        if group == "history-trades":
            self.query_one("#trades-view", DataView).failed()
        elif group == "history-ledger":
            self.query_one("#ledger-view", DataView).failed()
        return False

    def on_history_screen_trades_loaded(self, event: TradesLoaded) -> None:
        trades = event.page.trades
        self.trades = [*self.trades, *trades] if event.appended else list(trades)
        self.trades_cursor = event.page.next_cursor
        zone = self.app.timezone
        user_id = self.app.user_id
        rows: list[Row] = []
        for trade in self.trades:
            side, gave, got = trade_sides(trade, user_id)
            closed = time_text(trade.completed_at, zone) if trade.completed_at else ""
            status_style = "" if trade.status == "completed" else "dim"
            rows.append((trade.id, [right(str(trade.id)), closed,
                                    Text(trade.status, style=status_style), side, gave, got]))
        self.query_one("#trades-view", DataView).show_rows(rows)

    def on_history_screen_ledger_loaded(self, event: LedgerLoaded) -> None:
        entries = event.page.entries
        self.entries = [*self.entries, *entries] if event.appended else list(entries)
        self.ledger_cursor = event.page.next_cursor
        zone = self.app.timezone
        rows: list[Row] = []
        for entry in self.entries:
            sign = "+" if entry.amount > 0 else ""
            rows.append((entry.id, [
                time_text(entry.created_at, zone),
                entry.token_type,
                right(f"{sign}{amount_text(entry.amount, entry.token_type)}"),
                entry.reason.replace("_", " "),
                entry.reference,
            ]))
        self.query_one("#ledger-view", DataView).show_rows(rows)

    def _ledger_focused(self) -> bool:
        return isinstance(self.focused, LedgerTable)

    def action_more(self) -> None:
        if self._ledger_focused():
            if self.ledger_cursor:
                self._load_ledger(self.ledger_cursor)
            else:
                self.notify("The whole ledger is shown.", title="History")
        elif self.trades_cursor:
            self._load_trades(self.trades_cursor)
        else:
            self.notify("Every closed trade is shown.", title="History")

    def action_export(self) -> None:
        folder = self.app.export_dir or Path.cwd()
        self._export("ledger" if self._ledger_focused() else "trades", folder)

    @work(thread=True, group="export", exit_on_error=False)
    def _export(self, table_name: str, folder: Path) -> None:
        backend = self.app.backend()
        cursor: str | None = None
        rows: list[tuple[object, ...]] = []
        while True:
            if table_name == "ledger":
                ledger = backend.ledger(limit=EXPORT_PAGE_SIZE, cursor=cursor)
                rows.extend(ledger_rows(ledger.entries))
                cursor = ledger.next_cursor
            else:
                trades = backend.history(limit=EXPORT_PAGE_SIZE, cursor=cursor)
                rows.extend(trade_rows(trades.trades))
                cursor = trades.next_cursor
            if cursor is None:
                break
        stem = "ledger" if table_name == "ledger" else "trade-history"
        header = LEDGER_HEADER if table_name == "ledger" else TRADE_HEADER
        path = export_file(folder, stem, self.app.clock())
        count = write_csv(path, header, rows)
        self.post_message(self.Exported(path, count, table_name))

    def on_history_screen_exported(self, event: Exported) -> None:
        if event.table_name == "ledger":
            counted = count_text(event.count, "ledger entry", "ledger entries")
        else:
            counted = count_text(event.count, "trade")
        self.notify(f"Wrote {counted} to {event.path.resolve()}", title="Exported")
