"""The desk: a Textual application over one trader's ``Backend``.

The app owns what every screen shares: the backend connection, the session, the current
prices and the connection state. The connection opens in a worker after the login screen is
up. ``report_error`` is the one place that turns a failed backend call into a notification,
the connection banner or the login screen.

| key | action |
| --- | --- |
| 1–4 | portfolio, open trades, market, history |
| 5, ? | the keys of the current screen |
| ctrl+l | log out |
| ctrl+p | command palette: every key's action by name |
| ctrl+q | quit |
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, tzinfo
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.reactive import var
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import get_current_worker

from desk.backend.errors import DeskError, Unauthenticated, Unavailable
from desk.formatting import amount_text, market_message
from desk.screens.login import LoginScreen

if TYPE_CHECKING:
    from desk.backend.events import TradeEvent
    from desk.backend.interface import Backend
    from desk.backend.schemas import Price
    from desk.backend.stream import StreamItem, StreamState

BackendOpener = Callable[[], "Backend"]
"""A function that opens the market connection; it runs in a worker thread, once."""

MIN_WIDTH = 60
MIN_HEIGHT = 16
# Seconds between price requests while the live stream is not delivering events.
PRICE_INTERVAL_SECONDS = 5.0
# Stream events are applied at most this often, so a burst of ticks costs one refresh.
EVENT_BATCH_SECONDS = 0.1
# Seconds between attempts to reach a market that stopped responding.
RETRY_DELAYS_SECONDS = (1.0, 2.0, 5.0, 10.0)
# The sections after login, in the order of their number keys.
SECTIONS: dict[str, str] = {
    "portfolio": "Portfolio",
    "trades": "Open trades",
    "market": "Market",
    "history": "History",
}


def local_now() -> datetime:
    """Return the current time, aware, in the local time zone."""
    return datetime.now().astimezone()


def _section_screen(name: str) -> Screen[Any]:
    # Imported on first use: only the login screen is needed before the first frame.
    if name == "portfolio":
        from desk.screens.portfolio import PortfolioScreen

        return PortfolioScreen()
    if name == "trades":
        from desk.screens.trades import OpenTradesScreen

        return OpenTradesScreen()
    if name == "market":
        from desk.screens.market import MarketScreen

        return MarketScreen()
    from desk.screens.history import HistoryScreen

    return HistoryScreen()


class DeskApp(App[None]):
    """The trading desk over one backend; see the module docstring for its keys."""

    # An absolute path, so that subclasses defined elsewhere (in tests) find it too.
    CSS_PATH = Path(__file__).with_name("desk.tcss")
    TITLE = "Tokenomics Desk"
    SCREENS: ClassVar[dict[str, Any]] = {"login": LoginScreen}
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [
        (0, "-too-narrow"), (MIN_WIDTH, "-wide-enough")]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [
        (0, "-too-short"), (MIN_HEIGHT, "-tall-enough")]
    BINDINGS: ClassVar[list[Any]] = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True,
                tooltip="Quit the desk"),
        Binding("ctrl+p", "command_palette", "Commands", id="app.palette", priority=True,
                show=False, tooltip="Find any action by name"),
        Binding("ctrl+c", "help_quit", show=False, system=True),
    ]

    username: var[str] = var("")
    """The logged-in trader, or empty before login."""
    location: var[str] = var("")
    """The market's location: a database file or a server URL."""
    connection_problem: var[str] = var("")
    """The reason the market cannot be reached, or empty while it responds."""
    prices: var[tuple[Price, ...]] = var(())
    """The latest price of every asset."""
    prices_at: var[datetime | None] = var(None, always_update=True)
    """When the desk last received prices; its watchers run on every update, even to the
    same time (as with a fixed clock)."""
    price_ticks: tuple[tuple[Price, ...], ...] = ()
    """Every tick of the latest update of ``prices``, oldest first; the last is ``prices``.

    A batch of stream events keeps only the newest prices in ``prices``, so charts read the
    ticks before it here. It is set before ``prices_at`` changes.
    """
    market_version: var[int] = var(0)
    """Counts changes to holdings and the book, so screens know to reload what they show."""
    stream_state: var[str] = var("")
    """The live stream's state (a ``StreamState`` value), or empty before it is opened."""
    stream_detail: var[str] = var("")
    """The reason for the live stream's state, such as the last connection error."""

    def __init__(
        self,
        open_backend: BackendOpener,
        *,
        location: str = "",
        clock: Callable[[], datetime] = local_now,
        timezone: tzinfo | None = None,
        price_interval: float = PRICE_INTERVAL_SECONDS,
        event_batch_seconds: float = EVENT_BATCH_SECONDS,
        retry_delays: Sequence[float] = RETRY_DELAYS_SECONDS,
        export_dir: Path | None = None,
        cursor_blink: bool = True,
    ) -> None:
        """Create the desk.

        Args:
            open_backend: Opens the market connection; runs once, in a worker thread.
            location: Where the market is, shown until the connection is open.
            clock: The current time, for the header clock and the age of offers.
            timezone: The zone times are shown in; None for the local zone.
            price_interval: Seconds between price requests while the live stream is down.
            event_batch_seconds: Minimum seconds between two applications of stream events;
                0 applies them on the next turn of the event loop.
            retry_delays: Seconds before each new attempt to reach a market that stopped
                responding; the last one repeats.
            export_dir: Folder of CSV exports; None for the current folder.
            cursor_blink: Whether text cursors blink (off for repeatable screenshots).
        """
        super().__init__()
        self._open_backend = open_backend
        self._backend: Backend | None = None
        self._backend_error: BaseException | None = None
        self._backend_ready = threading.Event()
        self.clock = clock
        self.timezone = timezone
        self.price_interval = price_interval
        self.event_batch_seconds = event_batch_seconds
        self.retry_delays = tuple(retry_delays)
        self.export_dir = export_dir
        self.cursor_blink = cursor_blink
        self.session_start_prices: dict[str, Price] = {}
        self.user_id: int | None = None
        self._price_timer: Timer | None = None
        self._retry_timer: Timer | None = None
        self._retry_attempt = 0
        # The live stream: events wait in _pending until the next batch is applied. Each
        # login gets a new session number, so events of an earlier session are dropped.
        self._session_number = 0
        self._stream_stops: list[Callable[[], None]] = []
        self._events_lock = threading.Lock()
        self._pending: list[StreamItem] = []
        self._wake_posted = False
        self._batch_timer: Timer | None = None
        self._last_batch = 0.0
        self.set_reactive(DeskApp.location, location)

    # The connection

    # The login screen is the bottom of the screen stack. Login pushes the portfolio over it,
    # and the sections above it are installed screens swapped with ``switch_screen``. Logout
    # pops back down to it. Textual's modes would re-parse the whole stylesheet the first time
    # each mode's screen is shown (about 0.1 s each with Textual 8.2), and installed screens
    # keep their state while hidden all the same.

    def get_default_screen(self) -> Screen[Any]:
        # Pushing the login screen over Textual's blank default screen instead would cost the
        # first frame a blank screen and a second styling of every login widget.
        return self.get_screen("login")

    def on_mount(self) -> None:
        # Open the market once the first frame is drawn: its imports would hold the GIL and
        # delay the login screen.
        self.call_after_refresh(self._open_connection)

    @work(thread=True, group="connect", exit_on_error=False)
    def _open_connection(self) -> None:
        try:
            backend = self._open_backend()
        except BaseException as error:  # noqa: BLE001 - reported on the login screen
            self._backend_error = error
            self._backend_ready.set()
            self.call_from_thread(self._open_failed, error)
            raise
        self._backend = backend
        self._backend_ready.set()
        self.call_from_thread(setattr, self, "location", backend.location)

    def _open_failed(self, error: BaseException) -> None:
        self.log.error("opening the market failed", error=repr(error))
        message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
        login = self.get_screen("login")
        if isinstance(login, LoginScreen):
            login.show_message(f"The market cannot be opened: {message}")

    def backend(self) -> Backend:
        """Return the open backend, waiting for it to open; call from worker threads only.

        Raises ``Unavailable`` when the market could not be opened.
        """
        self._backend_ready.wait()
        if self._backend is None:
            error = self._backend_error
            message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
            raise Unavailable(f"cannot open the market at {self.location}: {message}")
        return self._backend

    def close_backend(self) -> None:
        """Log out and release the backend's connections, if it was opened."""
        if self._backend is not None:
            self._backend.close()

    # Sessions

    def logged_in(self, username: str, user_id: int | None) -> None:
        """Enter the desk after a successful login: open the portfolio and start prices."""
        self.user_id = user_id
        self.username = username
        self.session_start_prices = {}
        self.prices = ()
        self.prices_at = None
        for name in SECTIONS:
            if not self.is_screen_installed(name):
                self.install_screen(_section_screen(name), name)
        self.push_screen("portfolio")
        self._fetch_prices()
        if self._price_timer is None:
            self._price_timer = self.set_interval(self.price_interval, self.refresh_prices)
        self._session_number += 1
        self._subscribe(self._session_number)

    def action_logout(self, message: str = "") -> None:
        """Log out and return to the login screen, optionally with a message on it."""
        self._end_session(message or "Logged out.")

    def _end_session(self, message: str) -> None:
        if self._backend is not None:
            self._backend.logout()
        if self._price_timer is not None:
            self._price_timer.stop()
            self._price_timer = None
        self._unsubscribe()
        self.username = ""
        self.user_id = None
        self.connection_problem = ""
        self.run_worker(self._show_login(message), group="session", exit_on_error=False)

    async def _show_login(self, message: str) -> None:
        # Close any dialog and the section down to the login screen, then drop the section
        # screens so the next session starts fresh.
        while len(self.screen_stack) > 1:
            await self.pop_screen()
        login = self.get_screen("login")
        if isinstance(login, LoginScreen):
            login.show_message(message)
        for name in SECTIONS:
            if self.is_screen_installed(name):
                section = self.get_screen(name)
                self.uninstall_screen(name)
                if section.is_attached:
                    # Uninstalling keeps a screen mounted, with its timers and watchers.
                    await section.remove()

    def action_section(self, name: str) -> None:
        """Show one of the desk's sections: portfolio, trades, market or history."""
        if self.username and name in SECTIONS and self.screen is not self.get_screen(name):
            self.switch_screen(name)

    def action_help(self) -> None:
        """Show every key of the current screen."""
        from desk.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def market_changed(self) -> None:
        """Tell every screen that the trader's holdings or the book changed."""
        self.market_version += 1

    # Prices: ``receive_prices`` is the one path by which new prices reach the screens. The
    # live stream brings them, and the timer requests them only while the stream is not live.

    @property
    def stream_live(self) -> bool:
        """Whether the live stream delivers events as they happen."""
        return self.stream_state == "connected"

    @property
    def prices_out_of_date(self) -> str:
        """The reason the prices shown may be out of date, or "" while they arrive as usual."""
        if self.connection_problem:
            return "connection lost"
        if self.stream_state in ("stale", "reconnecting"):
            return f"live stream {self.stream_state}"
        return ""

    def refresh_prices(self) -> None:
        """Request prices from the market, unless the live stream brings them anyway."""
        if self.username and not self.connection_problem and not self.stream_live:
            self._fetch_prices()

    @work(thread=True, group="prices", exclusive=True, exit_on_error=False)
    def _fetch_prices(self) -> None:
        prices = self.backend().prices()
        if not get_current_worker().is_cancelled:
            self.call_from_thread(self.receive_prices, prices)

    def receive_prices(self, prices: Iterable[Price],
                       earlier: Sequence[Sequence[Price]] = ()) -> None:
        """Store new prices; the first prices of a session are what changes are measured from.

        ``earlier`` contains the ticks that arrived before ``prices`` in the same batch,
        oldest first, for the charts that draw every tick.
        """
        latest = tuple(prices)
        for price in latest:
            self.session_start_prices.setdefault(price.token_type, price)
        self.price_ticks = (*(tuple(tick) for tick in earlier), latest)
        # Both values are in place before the watchers of either run.
        now = self.clock()
        self.set_reactive(DeskApp.prices_at, now)
        self.prices = latest
        self.prices_at = now

    # The live stream. Its callbacks run on the stream's thread, or in process on whichever
    # thread published the event, so they only queue events and post messages.

    class StreamWoke(Message):
        """Stream events are waiting in the app's queue."""

    class StreamStateChanged(Message):
        """The live stream of session ``session`` changed its state."""

        def __init__(self, session: int, state: StreamState, detail: str) -> None:
            super().__init__()
            self.session = session
            self.state = state
            self.detail = detail

    @work(thread=True, group="stream", exit_on_error=False)
    def _subscribe(self, session: int) -> None:
        stream = self.backend().events()
        stops = [
            stream.on_state_change(
                lambda state: self._stream_state_changed(session, state, stream.detail)),
            stream.subscribe(partial(self._stream_item, session)),
        ]
        with self._events_lock:
            current = session == self._session_number
            if current:
                self._stream_stops.extend(stops)
        if not current:  # logged out while subscribing
            for stop in stops:
                stop()
            return
        self._stream_state_changed(session, stream.state, stream.detail)

    def _unsubscribe(self) -> None:
        with self._events_lock:
            self._session_number += 1
            stops, self._stream_stops = self._stream_stops, []
            self._pending.clear()
        for stop in stops:
            stop()
        if self._batch_timer is not None:
            self._batch_timer.stop()
            self._batch_timer = None
        self.stream_state = ""
        self.stream_detail = ""

    def _stream_state_changed(self, session: int, state: StreamState, detail: str) -> None:
        self.post_message(self.StreamStateChanged(session, state, detail))

    def _stream_item(self, session: int, item: StreamItem) -> None:
        with self._events_lock:
            if session != self._session_number:
                return
            self._pending.append(item)
            if self._wake_posted:
                return
            self._wake_posted = True
        self.post_message(self.StreamWoke())

    def on_desk_app_stream_woke(self, _: StreamWoke) -> None:
        if self._batch_timer is not None:
            return
        wait = self._last_batch + self.event_batch_seconds - time.monotonic()
        if wait > 0:
            self._batch_timer = self.set_timer(wait, self._apply_events)
        else:
            self._apply_events()

    def _apply_events(self) -> None:
        """Apply every waiting stream event: the newest prices, then one reload if needed."""
        self._batch_timer = None
        self._last_batch = time.monotonic()
        with self._events_lock:
            items, self._pending = self._pending, []
            self._wake_posted = False
        if not self.username:
            return
        from desk.backend.events import PriceEvent, TradeEvent
        from desk.backend.stream import CatchUp

        ticks: list[list[Price]] = []
        catch_up = changed = False
        for item in items:
            if isinstance(item, PriceEvent):
                ticks.append(item.prices)
            elif isinstance(item, CatchUp):
                catch_up = True
            else:  # a trade or balance event
                changed = True
                if isinstance(item, TradeEvent):
                    self._notify_if_taken(item)
        if ticks:
            self.receive_prices(ticks[-1], earlier=ticks[:-1])
        elif catch_up:
            self._fetch_prices()
        if catch_up or changed:
            self.market_changed()

    def _notify_if_taken(self, event: TradeEvent) -> None:
        """Tell the trader that another trader took one of their offers."""
        trade = event.trade
        if (event.action != "executed" or trade.creator_id != self.user_id
                or trade.executor_id == self.user_id):
            return
        from desk.backend.trading import payment_for

        payment = payment_for(trade.amount, trade.exchange_rate, trade.to_token)
        self.notify(f"Trader #{trade.executor_id} took your offer {trade.id}: you received "
                    f"{amount_text(payment, trade.to_token)} {trade.to_token} for "
                    f"{amount_text(trade.amount, trade.from_token)} {trade.from_token}.",
                    title="Your offer was taken", markup=False)

    def on_desk_app_stream_state_changed(self, message: StreamStateChanged) -> None:
        if message.session != self._session_number or not self.username:
            return
        from desk.backend.stream import StreamState

        self.stream_detail = message.detail
        self.stream_state = message.state.value
        if message.state is StreamState.CONNECTED and self.connection_problem:
            # The server is back: try the requests again now instead of after the delay.
            self.retry_now()
        elif message.state is StreamState.CLOSED:
            # The server rejected the session: the reload's request reports it.
            self.market_changed()

    # Errors: every failed backend call ends here.

    def on_worker_state_changed(self, event: Any) -> None:
        from textual.worker import WorkerState

        if event.state is WorkerState.ERROR and event.worker.group != "connect":
            self.report_error(event.worker.error)

    def report_error(self, error: BaseException | None, title: str = "", *,
                     action: bool = False) -> None:
        """Show a failed backend call the way a trader can act on it, never as a traceback.

        An expired session returns to the login screen, a lost connection shows the banner
        and retries, a rejected request becomes an error notification. A failed ``action``
        (a take, post, cancel, convert or export) is notified also when the connection
        is lost, so that no action fails without its own message.
        """
        if isinstance(error, Unauthenticated):
            if self.username:
                self._end_session(f"{error.message}")
            else:
                self.notify(market_message(error.message), title=title or "Not logged in",
                            severity="error", markup=False)
        elif isinstance(error, Unavailable):
            self.connection_lost(error.message)
            if action:
                self.notify(market_message(error.message), title=title or "Request failed",
                            severity="error", markup=False)
        elif isinstance(error, DeskError):
            self.notify(market_message(error.message), title=title or "Request failed",
                        severity="error", markup=False)
        else:
            self.log.error("unexpected error in a backend call", error=repr(error))
            text = f"{type(error).__name__}: {error}" if error else "unknown error"
            self.notify(f"Unexpected error: {text}", title=title or "Error", severity="error",
                        markup=False)

    def connection_lost(self, reason: str) -> None:
        """Show the connection banner and try the market again after a delay."""
        self.connection_problem = reason
        if self._retry_timer is None:
            delay = self.retry_delays[min(self._retry_attempt, len(self.retry_delays) - 1)]
            self._retry_attempt += 1
            self._retry_timer = self.set_timer(delay, self._retry_connection)

    def retry_now(self) -> None:
        """Try a lost connection and a reconnecting live stream again at once instead of
        after their pending delays."""
        if self.connection_problem:
            if self._retry_timer is not None:
                self._retry_timer.stop()
            self._retry_connection()
        stream = self._backend.current_stream if self._backend is not None else None
        if stream is not None:
            stream.retry_now()

    def _retry_connection(self) -> None:
        self._retry_timer = None
        self._probe_connection()

    @work(thread=True, group="reconnect", exclusive=True, exit_on_error=False)
    def _probe_connection(self) -> None:
        try:
            prices = self.backend().prices()
        except Unavailable as error:
            self.call_from_thread(self.connection_lost, error.message)
            return
        self.call_from_thread(self._connection_restored, prices)

    def _connection_restored(self, prices: Iterable[Price]) -> None:
        self._retry_attempt = 0
        self.connection_problem = ""
        self.receive_prices(prices)
        self.market_changed()
        self.notify("Connection restored.", title="Market")

    # The command palette lists the same bindings as the footer and the help screen, then
    # the actions of the other sections.

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        from desk.screens.help import screen_bindings

        for entry in screen_bindings(screen):
            if entry.action in ("command_palette", "app.command_palette"):
                continue
            run = partial(self.run_action, entry.action, entry.node)
            yield SystemCommand(entry.description, f"{entry.key_display} · {entry.help}", run)
        yield from self._section_commands(screen)
        for command in super().get_system_commands(screen):
            if command.title not in ("Quit", "Keys"):
                yield command

    def _section_commands(self, current: Screen[Any]) -> Iterable[SystemCommand]:
        """Yield the own actions of every section but ``current``; each switches to its
        section first, then runs there."""
        if not self.username or current.is_modal:
            return  # switching sections from a dialog would replace the dialog
        for name, section_title in SECTIONS.items():
            if not self.is_screen_installed(name):
                continue
            section = self.get_screen(name)
            if section is current:
                continue
            # Only the section's own bindings: the shared ones (number keys, ?, r) and the
            # app's focus keys are already listed or mean nothing from elsewhere.
            for binding in type(section).__dict__.get("BINDINGS", []):
                if not isinstance(binding, Binding) or binding.action.startswith("app."):
                    continue
                key = binding.key_display or binding.key.split(",")[0]
                help_text = f"{key} on {section_title} · {binding.tooltip or binding.description}"
                run = partial(self._run_in_section, name, binding.action)
                yield SystemCommand(f"{binding.description} ({section_title})", help_text, run)

    async def _run_in_section(self, name: str, action: str) -> None:
        section = self.get_screen(name)
        if self.screen is not section:
            await self.switch_screen(name)
        await self.run_action(action, section)
