"""Recording what an event stream delivers, and waiting for it with a deadline."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import TypeVar

from desk.backend.events import BalanceEvent, TradeEvent
from desk.backend.stream import EventStream, StreamItem, StreamState

# Seconds to wait for something that should happen; a failure takes this long to report.
DEADLINE = 30.0

ItemT = TypeVar("ItemT")


class Recorder:
    """Subscribes to a stream and queues each item and each new state, in arrival order."""

    def __init__(self, stream: EventStream) -> None:
        self.stream = stream
        self.items: queue.Queue[StreamItem] = queue.Queue()
        self.states: queue.Queue[StreamState] = queue.Queue()
        self._state_changed = threading.Condition()
        self._stop_states = stream.on_state_change(self._record_state)
        self._stop_items = stream.subscribe(self.items.put)

    def _record_state(self, state: StreamState) -> None:
        self.states.put(state)
        with self._state_changed:
            self._state_changed.notify_all()

    def wait_for_state(self, state: StreamState, deadline: float = DEADLINE) -> None:
        """Return once the stream is in ``state``; fail after ``deadline`` seconds."""
        with self._state_changed:
            reached = self._state_changed.wait_for(lambda: self.stream.state is state,
                                                   timeout=deadline)
        assert reached, (f"stream still {self.stream.state} ({self.stream.detail!r}) "
                         f"after {deadline} s, expected {state}")

    def next_item(self, matches: Callable[[StreamItem], bool],
                  deadline: float = DEADLINE) -> StreamItem:
        """Return the next item that ``matches``, skipping others; fail after ``deadline``."""
        try:
            while True:
                item = self.items.get(timeout=deadline)
                if matches(item):
                    return item
        except queue.Empty:
            raise AssertionError(f"no matching stream item within {deadline} s; stream "
                                 f"{self.stream.state} ({self.stream.detail!r})") from None

    def next_of(self, kind: type[ItemT], matches: Callable[[ItemT], bool] = lambda item: True,
                deadline: float = DEADLINE) -> ItemT:
        """Return the next item of type ``kind`` that ``matches``."""
        item = self.next_item(lambda item: isinstance(item, kind) and matches(item),
                              deadline)
        assert isinstance(item, kind)
        return item

    def trade(self, action: str, trade_id: int) -> TradeEvent:
        """Return the next trade event of ``action`` on trade ``trade_id``."""
        return self.next_of(TradeEvent,
                            lambda event: (event.action, event.trade.id) == (action, trade_id))

    def drain(self) -> list[StreamItem]:
        """Return every item that has arrived and not been taken yet."""
        items = []
        while True:
            try:
                items.append(self.items.get_nowait())
            except queue.Empty:
                return items

    def drain_states(self) -> list[StreamState]:
        """Return every state change recorded and not taken yet."""
        states = []
        while True:
            try:
                states.append(self.states.get_nowait())
            except queue.Empty:
                return states

    def balances_of(self, items: list[StreamItem]) -> list[BalanceEvent]:
        return [item for item in items if isinstance(item, BalanceEvent)]

    def close(self) -> None:
        self._stop_items()
        self._stop_states()
