"""The live event stream through the backend interface: the same events in process and remote."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from desk.backend import Backend, Unauthenticated
from desk.backend.events import BalanceEvent, TradeEvent
from desk.backend.stream import StreamState
from tests.streams import Recorder


@pytest.fixture
def record() -> Iterator[Callable[[Backend], Recorder]]:
    """Return a function that records a trader's stream once it is connected."""
    recorders: list[Recorder] = []

    def factory(backend: Backend) -> Recorder:
        recorder = Recorder(backend.events())
        recorders.append(recorder)
        recorder.wait_for_state(StreamState.CONNECTED)
        return recorder

    yield factory
    for recorder in recorders:
        recorder.close()


def test_offer_reaches_other_trader(trader: Callable[[], Backend],
                                    record: Callable[[Backend], Recorder]) -> None:
    alice, bob, carol = trader(), trader(), trader()
    watching = record(carol)

    offer = alice.create_offer("OpenAI", "Google", "12", "2")
    created = watching.trade("created", offer.id)
    assert created.trade == offer

    bob.execute_offer(offer.id)
    executed = watching.trade("executed", offer.id)
    assert executed.trade.status == "completed"
    assert executed.trade.executor_id == bob.user_id

    other = alice.create_offer("Cohere", "BTC", "1", "0.00001")
    alice.cancel_offer(other.id)
    cancelled = watching.trade("cancelled", other.id)
    assert cancelled.trade.status == "cancelled"


def test_balance_events_reach_owner_only(trader: Callable[[], Backend],
                                         record: Callable[[Backend], Recorder]) -> None:
    alice, bob, carol = trader(), trader(), trader()
    streams = {"alice": record(alice), "bob": record(bob), "carol": record(carol)}
    ids = {"alice": alice.user_id, "bob": bob.user_id, "carol": carol.user_id}

    offer = alice.create_offer("Cohere", "Mistral", "10", "3")
    bob.execute_offer(offer.id)
    # Events reach each stream in the order they were published, so once every stream has
    # the marker, each has had every balance event published before it.
    marker = alice.create_offer("OpenAI", "BTC", "1", "0.00001")

    received = {}
    for name, stream in streams.items():
        before_marker = []
        while True:
            item = stream.next_item(lambda item: True)
            if isinstance(item, TradeEvent) and item.trade.id == marker.id:
                break
            before_marker.append(item)
        received[name] = stream.balances_of(before_marker)

    for name, events in received.items():
        assert {event.user_id for event in events} <= {ids[name]}, name
    # Alice's hold and sale; Bob's purchase. Carol traded nothing, so any balance event she
    # has is the snapshot that a remote stream sends when it connects.
    sale = [event for event in received["alice"]
            if _balance(event, "Mistral") == 1030]
    assert sale
    assert any(_balance(event, "Cohere") == 1010 for event in received["bob"])
    assert all(_balance(event, "Cohere") == 1000 for event in received["carol"])


def test_stream_follows_session(trader: Callable[[], Backend]) -> None:
    alice = trader()
    stream = alice.events()
    assert alice.events() is stream

    alice.logout()
    assert stream.state is StreamState.CLOSED
    with pytest.raises(Unauthenticated):
        alice.events()


def _balance(event: BalanceEvent, asset: str) -> object:
    return next(row.balance for row in event.balances if row.token_type == asset)
