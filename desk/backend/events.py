"""Market events and the in-process bus that delivers them.

Three kinds of event travel to desks: ``price`` for each tick of the price feed, ``trade`` when
an offer is created, executed or cancelled, and ``balance`` when one user's balances change.
A fourth, ``resync``, warns local subscribers that events from other processes may have been
lost, so that what they show should be fetched again.
Over the network they travel as JSON (``event_adapter`` parses them back). In the embedded desk
the same objects come straight from this bus, so screens handle one kind of event either way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from desk.backend import schemas

log = logging.getLogger(__name__)


class PriceEvent(schemas.Model):
    """A tick of the price feed: the new price of every asset."""

    type: Literal["price"] = "price"
    prices: list[schemas.Price]


class TradeEvent(schemas.Model):
    """An offer was created, executed or cancelled."""

    type: Literal["trade"] = "trade"
    action: Literal["created", "executed", "cancelled"]
    trade: schemas.Trade


class BalanceEvent(schemas.Model):
    """The balances of one user changed; only that user receives it."""

    type: Literal["balance"] = "balance"
    user_id: int
    balances: list[schemas.Balance]


class ResyncEvent(schemas.Model):
    """Events from other processes may have been lost; refetch balances and the offer book.

    The PostgreSQL relay delivers it to this process's subscribers after it reconnects, and the
    market after it failed to read the balances of a change it publishes. It is never relayed
    to other processes.
    """

    type: Literal["resync"] = "resync"


Event = PriceEvent | TradeEvent | BalanceEvent | ResyncEvent
MarketEvent = Annotated[Event, Field(discriminator="type")]
"""Any market event, distinguished by its ``type`` field when parsed from JSON."""

event_adapter: TypeAdapter[Event] = TypeAdapter(MarketEvent)

Listener = Callable[[Event], None]


class Subscription:
    """A registered listener; ``close()`` stops delivery.

    ``kinds``, if given, are the event types (``"price"``, ``"trade"``, ...) it receives.
    """

    def __init__(self, bus: EventBus, listener: Listener, user_id: int | None,
                 kinds: frozenset[str] | None = None) -> None:
        self._bus = bus
        self.listener = listener
        self.user_id = user_id
        self.kinds = kinds

    def wants(self, event: Event) -> bool:
        """Return whether this subscriber receives ``event``: only events of its kinds, and
        balance events only if they are its owner's."""
        if not self.wants_kind(event.type):
            return False
        if isinstance(event, BalanceEvent):
            return event.user_id == self.user_id
        return True

    def wants_kind(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds

    def close(self) -> None:
        self._bus.unsubscribe(self)


class EventBus:
    """Delivers each published event to every interested subscriber, in publishing order.

    Listeners run on the publisher's thread and must return quickly: post the event to a queue
    or an event loop rather than doing work. A listener that raises is logged and skipped.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscriptions: list[Subscription] = []
        self._relays: list[Listener] = []

    def subscribe(self, listener: Listener, user_id: int | None = None,
                  kinds: Iterable[str] | None = None) -> Subscription:
        """Deliver events to ``listener``; balance events only if they are ``user_id``'s.

        With ``kinds``, deliver only events of those types, such as ``["price"]``.
        """
        subscription = Subscription(self, listener, user_id,
                                    None if kinds is None else frozenset(kinds))
        with self._lock:
            self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)

    def add_relay(self, relay: Listener) -> None:
        """Also hand every locally published event to ``relay`` (to reach other processes)."""
        with self._lock:
            self._relays.append(relay)

    def publish(self, event: Event) -> None:
        """Deliver an event raised in this process to local subscribers and to relays."""
        self.deliver(event)
        with self._lock:
            relays = list(self._relays)
        for relay in relays:
            self._call(relay, event)

    def deliver(self, event: Event) -> None:
        """Deliver an event to local subscribers only (used for events from other processes)."""
        with self._lock:
            targets = [s for s in self._subscriptions if s.wants(event)]
        for subscription in targets:
            self._call(subscription.listener, event)

    def has_listeners(self, kind: str | None = None) -> bool:
        """Return whether any subscriber or relay would receive an event published now.

        With ``kind``, count only the subscribers of events of that type; relays take every
        kind.
        """
        with self._lock:
            if self._relays:
                return True
            return any(kind is None or subscription.wants_kind(kind)
                       for subscription in self._subscriptions)

    @staticmethod
    def _call(listener: Listener, event: Event) -> None:
        try:
            listener(event)
        except Exception:
            log.exception("event listener %r failed on a %s event", listener, event.type)
