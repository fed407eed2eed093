"""The desk under test: fixed clock, fixed zone, no blinking, real markets on SQLite files."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.worker import WorkerFailed

from desk.app import DeskApp
from desk.backend import Backend, LocalBackend, Market
from desk.backend.errors import Unavailable
from desk.backend.events import ResyncEvent
from desk.backend.schemas import Conversion, Portfolio, Session, Trade, TradePage
from desk.backend.stream import EventStream, LocalEventStream, StreamState
from tests.support import START

DESK_NOW = START + timedelta(minutes=5)
"""The time every desk under test shows: five minutes after the market's clock starts."""
DEMO = ("demo", "demo123")
SETTLE_ROUNDS = 20


def fixed_clock() -> datetime:
    return DESK_NOW


class RecordingDeskApp(DeskApp):
    """A desk that keeps every notification it shows, so tests can assert on them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.notices: list[tuple[str, str, str]] = []

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               **kwargs: Any) -> None:
        self.notices.append((severity, title, str(message)))
        super().notify(message, title=title, severity=severity, **kwargs)

    def errors_shown(self) -> list[tuple[str, str, str]]:
        return [notice for notice in self.notices if notice[0] == "error"]


def make_app(open_backend: Callable[[], Backend], export_dir: Path | None = None,
             price_interval: float = 3600.0) -> RecordingDeskApp:
    """Return a desk with everything that changes between runs pinned down."""
    # No retry fires by itself during a test; a test that needs one calls it.
    # Stream events apply on the next turn of the event loop instead of after a delay.
    app = RecordingDeskApp(open_backend, clock=fixed_clock, timezone=UTC,
                           price_interval=price_interval, event_batch_seconds=0.0,
                           retry_delays=(3600.0,),
                           export_dir=export_dir, cursor_blink=False)
    app.animation_level = "none"
    return app


def desk_on(market: Market, **kwargs: Any) -> RecordingDeskApp:
    """Return a desk with its own backend (its own session) on ``market``."""
    return make_app(lambda: LocalBackend(market), **kwargs)


async def settle(pilot: Pilot[Any]) -> None:
    """Wait until no worker runs and every message they posted is handled."""
    app = pilot.app
    for _ in range(SETTLE_ROUNDS):
        # A failed worker is finished too; its error reaches the app's handler.
        with contextlib.suppress(WorkerFailed):
            await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(worker.is_running for worker in app.workers):
            await pilot.pause()
            if not any(worker.is_running for worker in app.workers):
                return
    raise AssertionError(f"workers still running: {list(app.workers)}")


async def log_in(pilot: Pilot[Any], username: str = DEMO[0], password: str = DEMO[1]) -> None:
    """Fill in the login form, press enter and wait for the result.

    The fields are filled directly: the pilot spends tens of milliseconds on every key, and
    typing itself is tested once, in the register flow.
    """
    await settle(pilot)
    screen = pilot.app.screen
    screen.query_one("#login-username").value = username
    password_field = screen.query_one("#login-password")
    password_field.value = password
    password_field.focus()
    await pilot.press("enter")
    await settle(pilot)


async def fill(pilot: Pilot[Any], selector: str, value: str) -> None:
    """Put ``value`` into the input at ``selector`` and focus it, as if typed."""
    field = pilot.app.screen.query_one(selector)
    field.focus()
    field.value = value
    await pilot.pause()


class GatedBackend(LocalBackend):
    """A real backend whose listing calls wait until ``gate`` is set: a slow market."""

    def __init__(self, market: Market) -> None:
        super().__init__(market)
        self.gate = threading.Event()

    def open_on_exit(self, app: DeskApp) -> None:
        """Set the gate when ``app`` exits, so that its blocked worker threads can finish.

        ``asyncio.run`` waits for the worker threads when the app's loop closes, which is
        after the screenshot and before the test could set the gate itself.
        """
        exit_app = app.exit

        def exit_and_open(*args: Any, **kwargs: Any) -> None:
            self.gate.set()
            exit_app(*args, **kwargs)

        app.exit = exit_and_open  # type: ignore[method-assign]

    def balances(self) -> Portfolio:
        self.gate.wait()
        return super().balances()

    def list_offers(self, *args: Any, **kwargs: Any) -> TradePage:
        self.gate.wait()
        return super().list_offers(*args, **kwargs)


class HeldWritesBackend(LocalBackend):
    """A real backend whose posts and conversions wait until ``gate`` is set: a slow market.

    ``writes`` counts the calls that reached it, including those still waiting.
    """

    def __init__(self, market: Market) -> None:
        super().__init__(market)
        self.gate = threading.Event()
        self.writes = 0

    def create_offer(self, *args: Any, **kwargs: Any) -> Trade:
        self.writes += 1
        self.gate.wait()
        return super().create_offer(*args, **kwargs)

    def convert(self, *args: Any, **kwargs: Any) -> Conversion:
        self.writes += 1
        self.gate.wait()
        return super().convert(*args, **kwargs)


class HeldLoginBackend(LocalBackend):
    """A real backend whose logins wait until ``gate`` is set; ``logins`` counts the calls."""

    def __init__(self, market: Market) -> None:
        super().__init__(market)
        self.gate = threading.Event()
        self.logins = 0

    def login(self, *args: Any, **kwargs: Any) -> Session:
        self.logins += 1
        self.gate.wait()
        return super().login(*args, **kwargs)


class DroppingBackend(LocalBackend):
    """A real backend whose connection drops after login: every call but login fails."""

    dropped = False

    def _check(self) -> None:
        if self.dropped:
            raise Unavailable("cannot reach server at http://127.0.0.1:9; is it running?")

    def balances(self) -> Portfolio:
        self._check()
        return super().balances()

    def prices(self) -> Any:
        self._check()
        return super().prices()


class SteeredStream(LocalEventStream):
    """A real in-process stream whose delivery state a test sets, as a network would."""

    def steer(self, state: StreamState, detail: str = "") -> None:
        self._set_state(state, detail)

    def catch_up(self) -> None:
        """Send the catch-up signal that a reconnected stream sends first."""
        with self._lock:
            subscriptions = list(self._subscriptions.values())
        for subscription in subscriptions:
            subscription.listener(ResyncEvent())


class SteeredBackend(LocalBackend):
    """A real backend whose event stream is a ``SteeredStream``; it counts price requests."""

    def __init__(self, market: Market) -> None:
        super().__init__(market)
        self.stream: SteeredStream | None = None
        self.price_calls = 0

    def _open_stream(self, session: Session) -> EventStream:
        user_id = self.market.authenticate(session.access_token)
        self.stream = SteeredStream(self.market.events, user_id)
        return self.stream

    def prices(self) -> Any:
        self.price_calls += 1
        return super().prices()
