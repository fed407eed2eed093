"""What every screen of the desk shares: the header, the banners, the keys and error handling.

Backend calls run in thread workers with a named group and ``exit_on_error=False``. A worker
that raises ends in the ERROR state. ``on_worker_state_changed`` below then hands the error
to the app's one handler, ``DeskApp.report_error``, unless the screen's ``worker_failed``
handles it first. A form does that to show a rejected value next to its field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.events import Mount
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

from desk.widgets.banner import ConnectionBanner
from desk.widgets.header import DeskHeader
from desk.widgets.too_small import TooSmall

if TYPE_CHECKING:
    from desk.app import DeskApp


class BackendCalls:
    """Routes the errors of this node's backend workers to ``worker_failed``."""

    app: DeskApp  # type: ignore[assignment]  # the attribute Textual's DOMNode provides
    ERROR_TITLES: ClassVar[dict[str, str]] = {}
    """The title of the notification for a failed call, by worker group."""
    ACTION_GROUPS: ClassVar[frozenset[str]] = frozenset()
    """Worker groups that carry out a trader's action, such as posting an offer. Their
    failure is always notified, also when the connection banner already shows the cause."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            error = event.worker.error
            group = event.worker.group
            if not self.worker_failed(group, error):
                self.app.report_error(error, self.ERROR_TITLES.get(group, ""),
                                      action=group in self.ACTION_GROUPS)

    def worker_failed(self, group: str, error: BaseException | None) -> bool:
        """Handle a failed call of worker ``group``; return False to leave it to the app."""
        return False


class DeskScreen(BackendCalls, Screen[None]):
    """A section of the desk after login, with the header, number keys and footer.

    Subclasses compose their body in ``compose_body`` and load their data in ``reload``,
    which runs when the screen is first shown, when it is shown again after the trader's
    actions changed the market, and on ``r``.
    """

    SECTION: ClassVar[str] = ""
    # A loading table cannot take focus, so each screen's DataView focuses its table when the
    # first rows arrive. Textual restores that focus when the screen is shown again.
    AUTO_FOCUS = ""
    BINDINGS: ClassVar[list[Any]] = [
        Binding("1", "app.section('portfolio')", "Portfolio", show=False, id="go.portfolio",
                tooltip="Show balances and their value"),
        Binding("2", "app.section('trades')", "Open trades", show=False, id="go.trades",
                tooltip="Show the offer book"),
        Binding("3", "app.section('market')", "Market", show=False, id="go.market",
                tooltip="Show prices"),
        Binding("4", "app.section('history')", "History", show=False, id="go.history",
                tooltip="Show past trades and balance changes"),
        Binding("question_mark", "app.help", "Keys", id="help", key_display="?",
                tooltip="List every key of this screen"),
        Binding("5", "app.help", "Keys", show=False, id="help.number",
                tooltip="List every key of this screen"),
        # Shown only in the list of keys and the command palette, so that at 80 columns the
        # footer has room for each screen's own keys.
        Binding("r", "reload", "Refresh", id="reload", show=False,
                tooltip="Load this screen's data again"),
        Binding("ctrl+l", "app.logout", "Log out", id="logout", show=False,
                tooltip="End the session and return to the login screen"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._stale = True
        self._seen_version = -1

    def compose(self) -> ComposeResult:
        yield DeskHeader(section=self.SECTION)
        yield ConnectionBanner()
        yield from self.compose_body()
        yield Footer()
        yield TooSmall()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.watch(self.app, "market_version", self._market_changed, init=False)

    def on_screen_resume(self) -> None:
        if self._stale or self._seen_version != self.app.market_version:
            self.action_reload()

    def _market_changed(self, version: int) -> None:
        if self.is_current:
            self.action_reload()
        else:
            self._stale = True

    def action_reload(self) -> None:
        """Load what the screen shows from the backend, retrying a lost connection at once."""
        self.app.retry_now()
        self._stale = False
        self._seen_version = self.app.market_version
        self.reload()

    def reload(self) -> None:
        """Start the workers that load the screen's data."""


class DeskModal(BackendCalls, ModalScreen[Any]):
    """A dialog over the current screen; escape closes it without acting.

    The dialog has its own connection banner, because it covers the banner of the screen
    underneath.
    """

    DEFAULT_CSS = """
    DeskModal > ConnectionBanner { dock: top; }
    """
    BINDINGS: ClassVar[list[Any]] = [
        Binding("escape", "close", "Close", id="dialog.close", tooltip="Close without acting"),
    ]

    pending = ""
    """The request the dialog waits for, such as "Posting the offer", or "" when none is.

    While it is set the dialog stays open and sends nothing more, so that a second enter
    cannot repeat the request and escape cannot hide its result.
    """

    @on(Mount)
    def _mount_banner(self) -> None:
        # A decorated handler runs as well as a subclass's ``on_mount``. The dialog covers
        # the screen underneath, so below the minimum size it shows its own TooSmall note.
        self.mount(ConnectionBanner(), TooSmall())

    def action_close(self) -> None:
        if self.pending:
            self.notify(f"{self.pending}; the dialog closes when the market answers.",
                        title="Please wait", severity="warning")
            return
        self.dismiss(None)
