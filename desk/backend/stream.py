"""Live market events for one trader's desk, the same whether the market is local or remote.

``Backend.events()`` returns an ``EventStream``. A screen subscribes once and receives ``price``,
``trade`` and ``balance`` events (``desk.backend.events``), plus a ``CatchUp`` whenever it
should refetch what it shows because events may have been missed. The stream's ``state``
reports whether events are flowing. In process they always are. Over a WebSocket the connection
can go quiet or drop, and the stream reconnects by itself.

Listeners and state callbacks run on the stream's own thread (the publishing thread in
process, the stream's network thread otherwise). They must return quickly and must not touch
a user interface directly: in Textual, post a message or use ``call_from_thread``.
"""

from __future__ import annotations

import abc
import enum
import logging
import threading
from collections.abc import Callable
from functools import partial
from typing import Literal

from desk.backend import schemas
from desk.backend.events import (
    BalanceEvent,
    Event,
    EventBus,
    PriceEvent,
    ResyncEvent,
    Subscription,
    TradeEvent,
)

log = logging.getLogger(__name__)


class StreamState(enum.StrEnum):
    """Whether a stream is delivering events."""

    CONNECTING = "connecting"
    """Not connected yet; no event has arrived."""
    CONNECTED = "connected"
    """Events arrive as they happen."""
    STALE = "stale"
    """Connected, but no message arrived for several price feed intervals."""
    RECONNECTING = "reconnecting"
    """The connection dropped or failed; the stream retries with backoff."""
    CLOSED = "closed"
    """Stopped for good: closed by its owner, or the server rejected the session token."""


class CatchUp(schemas.Model):
    """A signal to refetch balances, the offer book and history: events may have been missed.

    A remote stream sends it after every connection, before any event of that connection,
    and follows it with the current prices and the trader's balances as ordinary events.
    ``reconnected`` is false after the first connection and true after every later one. Any
    stream also sends it, with ``reconnected`` true, when its market's relay to other
    processes has lost events.
    """

    type: Literal["catch_up"] = "catch_up"
    reconnected: bool


StreamItem = PriceEvent | TradeEvent | BalanceEvent | CatchUp
Listener = Callable[[StreamItem], None]
StateListener = Callable[[StreamState], None]


class EventStream(abc.ABC):
    """The live events of one trader's session, and the state of their delivery.

    ``subscribe`` and ``on_state_change`` return a function that removes the callback again.
    A callback that raises is logged and skipped; the others still run.
    """

    def __init__(self, state: StreamState) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._state_listeners: list[StateListener] = []
        self._state = state
        self._detail = ""

    @property
    def state(self) -> StreamState:
        return self._state

    @property
    def detail(self) -> str:
        """Why the stream is in its state, for people: the last error or close reason, or ""."""
        return self._detail

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Deliver every event and catch-up signal to ``listener`` until the returned function
        is called."""
        with self._lock:
            self._listeners.append(listener)
        self._listener_added()
        return lambda: self._remove(self._listeners, listener)

    def on_state_change(self, listener: StateListener) -> Callable[[], None]:
        """Call ``listener`` with each new state until the returned function is called.

        It is not called with the current state: read ``state`` after registering.
        """
        with self._lock:
            self._state_listeners.append(listener)
        return lambda: self._remove(self._state_listeners, listener)

    @abc.abstractmethod
    def close(self) -> None:
        """Stop delivering events and release the connection; the state becomes CLOSED."""

    def retry_now(self) -> None:  # noqa: B027 (a hook that subclasses may override)
        """Cut short the wait before the next connection attempt, if the stream is waiting.

        Streams without a connection to retry, such as the in-process one, ignore it.
        """

    def _listener_added(self) -> None:  # noqa: B027 (a hook that subclasses may override)
        """Run after each ``subscribe``; a stream that connects lazily starts here."""

    def _remove(self, listeners: list[Listener] | list[StateListener], listener: object) -> None:
        with self._lock:
            if listener in listeners:
                listeners.remove(listener)  # type: ignore[arg-type]

    def _emit(self, item: StreamItem) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(item)
            except Exception:
                log.exception("stream listener %r failed on a %s message", listener, item.type)

    def _set_state(self, state: StreamState, detail: str = "") -> None:
        with self._lock:
            changed = state != self._state
            self._state = state
            self._detail = detail
            listeners = list(self._state_listeners) if changed else []
        for listener in listeners:
            try:
                listener(state)
            except Exception:
                log.exception("stream state listener %r failed on %s", listener, state)


class LocalEventStream(EventStream):
    """The events of a market in this process, from its bus; always connected until closed.

    Balance events reach the stream only if they are ``user_id``'s. Listeners run on the
    thread that published the event.
    """

    def __init__(self, bus: EventBus, user_id: int) -> None:
        super().__init__(StreamState.CONNECTED)
        self.bus = bus
        self.user_id = user_id
        self._subscriptions: dict[int, Subscription] = {}
        self._next_key = 0

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            if self._state is StreamState.CLOSED:
                return lambda: None
            key = self._next_key
            self._next_key += 1
            self._subscriptions[key] = self.bus.subscribe(partial(_translate, listener),
                                                          user_id=self.user_id)
        return lambda: self._unsubscribe(key)

    def _unsubscribe(self, key: int) -> None:
        with self._lock:
            subscription = self._subscriptions.pop(key, None)
        if subscription is not None:
            subscription.close()

    def close(self) -> None:
        with self._lock:
            subscriptions = list(self._subscriptions.values())
            self._subscriptions.clear()
        for subscription in subscriptions:
            subscription.close()
        self._set_state(StreamState.CLOSED, "closed")


def _translate(listener: Listener, event: Event) -> None:
    """Pass a bus event to a stream listener, as a ``CatchUp`` if it is a resync."""
    listener(CatchUp(reconnected=True) if isinstance(event, ResyncEvent) else event)
