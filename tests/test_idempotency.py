"""Idempotency keys in the market: a repeat with the same key replays the first outcome.

These run in process on SQLite and PostgreSQL; tests/server/test_idempotency.py covers the
HTTP header, concurrent requests to a server and the HTTP backend's retries.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from desk.backend import Backend, Conflict, Forbidden, InsufficientFunds, InvalidInput, Market
from desk.backend.idempotency import (
    KEY_FIELD,
    MAX_KEY_LENGTH,
    Idempotency,
    check_key,
    fingerprint,
)
from desk.backend.models import Conversion, IdempotencyKey, LedgerEntry, Trade
from desk.backend.schemas import Trade as TradeResult
from tests.support import PASSWORD, Clock, unique_name


def register(market: Market) -> int:
    name = unique_name()
    return market.register(name, f"{name}@example.com", PASSWORD).id


def count(market: Market, table: type, *conditions: object) -> int:
    with market.database.read() as connection:
        return connection.execute(
            select(func.count()).select_from(table).where(*conditions)  # type: ignore[arg-type]
        ).scalar_one()


def offer(market: Market, user_id: int, key: str | None = None, amount: str = "10",
          ) -> TradeResult:
    idempotency = Idempotency(key) if key is not None else None
    return market.create_offer(user_id, "OpenAI", "Anthropic", amount, "0.8",
                               idempotency=idempotency)


def test_repeated_create_replays_trade(market: Market) -> None:
    alice = register(market)
    first_key, second_key = Idempotency("create-1"), Idempotency("create-1")

    first = market.create_offer(alice, "OpenAI", "Anthropic", "10", "0.8",
                                idempotency=first_key)
    second = market.create_offer(alice, "OpenAI", "Anthropic", "10", "0.8",
                                 idempotency=second_key)

    assert second == first
    assert not first_key.replayed
    assert second_key.replayed
    assert count(market, Trade, Trade.creator_id == alice) == 1
    held = market.portfolio(alice).balances[0]
    assert held.token_type == "OpenAI"
    assert held.held == 10


def test_repeated_execute_and_cancel_act_once(market: Market) -> None:
    alice, bob = register(market), register(market)
    taken = offer(market, alice)
    withdrawn = offer(market, alice)

    executions = [market.execute_offer(bob, taken.id, idempotency=Idempotency("take"))
                  for _ in range(3)]
    cancellations = [market.cancel_offer(alice, withdrawn.id, idempotency=Idempotency("drop"))
                     for _ in range(3)]

    assert executions[1:] == executions[:1] * 2
    assert cancellations[1:] == cancellations[:1] * 2
    assert executions[0].status == "completed"
    assert cancellations[0].status == "cancelled"
    # Four ledger entries per execution; a cancellation only releases the hold.
    assert count(market, LedgerEntry, LedgerEntry.reference == f"trade:{taken.id}") == 4
    assert count(market, LedgerEntry, LedgerEntry.reference == f"trade:{withdrawn.id}") == 0


def test_repeated_convert_acts_once(market: Market) -> None:
    alice = register(market)
    results = [market.convert(alice, "OpenAI", "BTC", "100", idempotency=Idempotency("sell"))
               for _ in range(3)]
    assert results[1:] == results[:1] * 2
    assert count(market, Conversion, Conversion.user_id == alice) == 1
    openai = market.portfolio(alice).balances[0]
    assert openai.balance == 900


def test_key_with_other_body_rejected(market: Market) -> None:
    alice = register(market)
    offer(market, alice, "key-1", amount="10")

    with pytest.raises(InvalidInput) as caught:
        offer(market, alice, "key-1", amount="11")
    assert caught.value.field == KEY_FIELD
    assert "'key-1' was already used for a different request (trades/create)" in str(
        caught.value)
    assert count(market, Trade, Trade.creator_id == alice) == 1


def test_key_on_other_operation_rejected(market: Market) -> None:
    alice = register(market)
    trade = offer(market, alice, "shared")
    with pytest.raises(InvalidInput) as caught:
        market.cancel_offer(alice, trade.id, idempotency=Idempotency("shared"))
    assert caught.value.field == KEY_FIELD
    assert market.list_offers(alice, mine=True).trades == [trade]


def test_body_compared_as_sent(market: Market) -> None:
    alice = register(market)
    market.convert(alice, "OpenAI", "BTC", "100", idempotency=Idempotency("typed"))
    with pytest.raises(InvalidInput):
        market.convert(alice, "OpenAI", "BTC", 100, idempotency=Idempotency("typed"))
    assert fingerprint("market/convert", {"amount": "100"}) != fingerprint(
        "market/convert", {"amount": 100})
    assert fingerprint("x", {"a": 1, "b": "2"}) == fingerprint("x", {"b": "2", "a": 1})


def test_keys_belong_to_one_user(market: Market) -> None:
    alice, bob = register(market), register(market)
    first = offer(market, alice, "same-key")
    second = offer(market, bob, "same-key")
    assert first.id != second.id
    assert second.creator_id == bob


def test_stored_error_replayed(market: Market) -> None:
    alice, bob = register(market), register(market)
    costly = market.create_offer(alice, "OpenAI", "Anthropic", "100", "20")

    with pytest.raises(InsufficientFunds) as first:
        market.execute_offer(bob, costly.id, idempotency=Idempotency("too-soon"))
    # Bob now has enough Anthropic: 1,000 of his own and 1,000 more from a taken offer.
    funding = market.create_offer(alice, "Anthropic", "Cohere", "1000", "1")
    market.execute_offer(bob, funding.id)

    repeated = Idempotency("too-soon")
    with pytest.raises(InsufficientFunds) as second:
        market.execute_offer(bob, costly.id, idempotency=repeated)
    assert repeated.replayed
    assert str(second.value) == str(first.value)

    taken = market.execute_offer(bob, costly.id, idempotency=Idempotency("funded"))
    assert taken.status == "completed"


def test_forbidden_replayed_with_same_message(market: Market) -> None:
    alice = register(market)
    own = offer(market, alice)
    messages = []
    for _ in range(2):
        with pytest.raises(Forbidden) as caught:
            market.execute_offer(alice, own.id, idempotency=Idempotency("own"))
        messages.append(str(caught.value))
    assert messages[0] == messages[1]


def test_invalid_input_leaves_key_free(market: Market) -> None:
    alice = register(market)
    with pytest.raises(InvalidInput) as caught:
        offer(market, alice, "fix-and-resend", amount="1.1234567")
    assert caught.value.field == "amount"
    assert count(market, IdempotencyKey, IdempotencyKey.user_id == alice) == 0

    corrected = offer(market, alice, "fix-and-resend", amount="1.123456")
    assert corrected.amount == Decimal("1.123456")
    assert count(market, IdempotencyKey, IdempotencyKey.user_id == alice) == 1


def test_expired_key_acts_again(market: Market, clock: Clock) -> None:
    alice = register(market)
    first = offer(market, alice, "daily")
    clock.advance(market.config.idempotency_lifetime + timedelta(seconds=1))

    again = Idempotency("daily")
    second = market.create_offer(alice, "OpenAI", "Anthropic", "10", "0.8", idempotency=again)
    assert not again.replayed
    assert second.id != first.id
    assert count(market, IdempotencyKey, IdempotencyKey.user_id == alice) == 1


def test_purge_deletes_expired_keys(market: Market, clock: Clock) -> None:
    alice = register(market)
    offer(market, alice, "old-1")
    offer(market, alice, "old-2")
    clock.advance(market.config.idempotency_lifetime + timedelta(seconds=1))
    offer(market, alice, "fresh")

    assert market.purge_expired_keys() == 2
    with market.database.read() as connection:
        left = connection.execute(
            select(IdempotencyKey.key).where(IdempotencyKey.user_id == alice)).scalars().all()
    assert left == ["fresh"]


@pytest.mark.parametrize("key", ["", " ", "x" * (MAX_KEY_LENGTH + 1), "caf\u00e9", "a\nb",
                                 "tab\there", None, 42],
                         ids=["empty", "space", "too-long", "non-ascii", "newline", "tab",
                              "none", "int"])
def test_malformed_key_rejected(key: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_key(key)
    assert caught.value.field == KEY_FIELD


def test_longest_key_accepted(market: Market) -> None:
    alice = register(market)
    key = "k" * MAX_KEY_LENGTH
    assert offer(market, alice, key) == offer(market, alice, key)


@pytest.mark.slow
def test_concurrent_repeats_act_once(market: Market) -> None:
    """Eight threads execute one offer with one key at once: one acts, seven replay."""
    alice, bob = register(market), register(market)
    trade = offer(market, alice)
    start = threading.Barrier(8)
    keys = [Idempotency("together") for _ in range(8)]

    def execute(idempotency: Idempotency) -> TradeResult:
        start.wait(timeout=30)
        return market.execute_offer(bob, trade.id, idempotency=idempotency)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(execute, keys))

    assert all(result == results[0] for result in results)
    assert results[0].executor_id == bob
    assert sum(not key.replayed for key in keys) == 1
    assert count(market, LedgerEntry, LedgerEntry.reference == f"trade:{trade.id}") == 4


@pytest.mark.slow
def test_concurrent_distinct_keys_conflict(market: Market) -> None:
    """Without a shared key, concurrent takers still execute an offer once: one wins."""
    alice = register(market)
    takers = [register(market) for _ in range(4)]
    trade = offer(market, alice)
    start = threading.Barrier(len(takers))

    def execute(taker: int) -> str:
        start.wait(timeout=30)
        try:
            market.execute_offer(taker, trade.id, idempotency=Idempotency(f"taker-{taker}"))
        except Conflict:
            return "conflict"
        return "executed"

    with ThreadPoolExecutor(max_workers=len(takers)) as pool:
        outcomes = sorted(pool.map(execute, takers))
    assert outcomes == ["conflict"] * 3 + ["executed"]


def test_backend_passes_key(trader: Callable[[], Backend]) -> None:
    alice = trader()
    first = alice.create_offer("OpenAI", "BTC", "5", "0.00001", idempotency_key="mine-1")
    second = alice.create_offer("OpenAI", "BTC", "5", "0.00001", idempotency_key="mine-1")
    assert second == first
    assert len(alice.list_offers(mine=True).trades) == 1
