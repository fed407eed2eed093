"""Every rejected input: the error it raises, and that nothing in the market changed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from desk.backend import (
    Backend,
    DeskError,
    Forbidden,
    InsufficientFunds,
    InvalidInput,
    NotFound,
)
from desk.backend.pagination import encode_cursor
from tests.support import unique_name


@dataclass
class World:
    """Two traders: ``alice`` has two active offers, ``bob`` is about to act.

    ``offer_id`` costs a taker 15 Anthropic; ``costly_offer_id`` costs 900,000 Anthropic, far
    more than Bob holds.
    """

    alice: Backend
    bob: Backend
    offer_id: int
    costly_offer_id: int
    connect: Callable[[], Backend]


Action = Callable[[World], Any]


def offer(from_token: Any = "OpenAI", to_token: Any = "Anthropic", amount: Any = "10",
          rate: Any = "1.5") -> Action:
    return lambda world: world.bob.create_offer(from_token, to_token, amount, rate)


def convert(from_token: Any = "OpenAI", to_token: Any = "BTC", amount: Any = "10") -> Action:
    return lambda world: world.bob.convert(from_token, to_token, amount)


def register(password: str) -> Action:
    def action(world: World) -> Any:
        name = unique_name("reject")
        return world.connect().register(name, f"{name}@example.com", password)

    return action


def take_own_offer(world: World) -> Any:
    return world.alice.execute_offer(world.offer_id)


def cancel_others_offer(world: World) -> Any:
    return world.bob.cancel_offer(world.offer_id)


def take_without_funds(world: World) -> Any:
    return world.bob.execute_offer(world.costly_offer_id)


CASES: list[tuple[str, Action, type[DeskError], str | None]] = [
    ("amount NaN", offer(amount="NaN"), InvalidInput, "amount"),
    ("amount sNaN", offer(amount="sNaN"), InvalidInput, "amount"),
    ("amount infinity", offer(amount="Infinity"), InvalidInput, "amount"),
    ("amount minus infinity", offer(amount="-inf"), InvalidInput, "amount"),
    ("amount zero", offer(amount="0"), InvalidInput, "amount"),
    ("amount negative", offer(amount="-5"), InvalidInput, "amount"),
    ("amount not a number", offer(amount="ten"), InvalidInput, "amount"),
    ("amount empty", offer(amount=""), InvalidInput, "amount"),
    ("amount 7 places", offer(amount="1.0000001"), InvalidInput, "amount"),
    ("amount BTC 9 places", offer("BTC", "OpenAI", "0.000000001", "1000"), InvalidInput,
     "amount"),
    ("amount above 10^12", offer(amount="1000000000000.000001"), InvalidInput, "amount"),
    ("amount 1e13", offer(amount="1e13"), InvalidInput, "amount"),
    ("amount Arabic-Indic digits", offer(amount="١٢٣"), InvalidInput, "amount"),
    ("amount fullwidth digits", offer(amount="１２３"), InvalidInput, "amount"),
    ("rate NaN", offer(rate="NaN"), InvalidInput, "exchange_rate"),
    ("rate Devanagari digits", offer(rate="०.५"), InvalidInput, "exchange_rate"),
    ("rate zero", offer(rate="0"), InvalidInput, "exchange_rate"),
    ("rate negative", offer(rate="-1"), InvalidInput, "exchange_rate"),
    ("rate 11 places", offer(rate="0.00000000001"), InvalidInput, "exchange_rate"),
    ("rate above 10^12", offer(rate="1000000000001"), InvalidInput, "exchange_rate"),
    ("payment rounds to zero", offer(amount="0.000001", rate="0.1"), InvalidInput,
     "exchange_rate"),
    ("unknown from token", offer(from_token="Llama"), InvalidInput, "from_token"),
    ("unknown to token", offer(to_token="openai"), InvalidInput, "to_token"),
    ("same-token offer", offer("Google", "Google"), InvalidInput, "to_token"),
    ("creator without funds", offer(amount="1000000"), InsufficientFunds, None),
    ("execute own offer", take_own_offer, Forbidden, None),
    ("cancel another's offer", cancel_others_offer, Forbidden, None),
    ("taker without funds", take_without_funds, InsufficientFunds, None),
    ("execute unknown offer", lambda world: world.bob.execute_offer(10**9), NotFound, None),
    ("cancel unknown offer", lambda world: world.bob.cancel_offer(10**9), NotFound, None),
    ("password of 73 bytes", register("p" * 73), InvalidInput, "password"),
    ("password of 37 two-byte chars", register("é" * 37), InvalidInput, "password"),
    ("convert NaN", convert(amount="NaN"), InvalidInput, "amount"),
    ("convert zero", convert(amount="0"), InvalidInput, "amount"),
    ("convert fullwidth digits", convert(amount="１０"), InvalidInput, "amount"),
    ("convert negative", convert(amount="-1"), InvalidInput, "amount"),
    ("convert same asset", convert("BTC", "BTC", "0.1"), InvalidInput, "to_token"),
    ("convert unknown token", convert(to_token="DOGE"), InvalidInput, "to_token"),
    ("convert without funds", convert(amount="5000"), InsufficientFunds, None),
    ("convert worth nothing", convert(amount="0.000001"), InvalidInput, "amount"),
    ("list limit zero", lambda world: world.bob.list_offers(limit=0), InvalidInput, "limit"),
    ("list limit 201", lambda world: world.bob.list_offers(limit=201), InvalidInput, "limit"),
    ("list bad cursor", lambda world: world.bob.list_offers(cursor="garbage"), InvalidInput,
     "cursor"),
    ("history bad cursor", lambda world: world.bob.history(cursor="WzFd"), InvalidInput,
     "cursor"),
    ("ledger limit 1000", lambda world: world.bob.ledger(limit=1000), InvalidInput, "limit"),
    # Ids are INTEGER columns, and PostgreSQL fails a query that compares one with 2^31.
    ("execute id beyond INTEGER", lambda world: world.bob.execute_offer(2**31), NotFound, None),
    ("cancel id beyond INTEGER", lambda world: world.bob.cancel_offer(2**63 - 1), NotFound,
     None),
    ("list cursor beyond INTEGER",
     lambda world: world.bob.list_offers(cursor=encode_cursor(2**31)), InvalidInput, "cursor"),
    ("ledger cursor beyond INTEGER",
     lambda world: world.bob.ledger(cursor=encode_cursor(2**62)), InvalidInput, "cursor"),
    ("history cursor id beyond INTEGER",
     lambda world: world.bob.history(cursor=encode_cursor("2026-01-01T00:00:00+00:00", 2**31)),
     InvalidInput, "cursor"),
    # A time whose UTC equivalent is past the year 9999 or before the year 1.
    ("history cursor after year 9999",
     lambda world: world.bob.history(cursor=encode_cursor("9999-12-31T23:00:00-14:00", 1)),
     InvalidInput, "cursor"),
    ("history cursor before year 1",
     lambda world: world.bob.history(cursor=encode_cursor("0001-01-01T00:00:00+14:00", 1)),
     InvalidInput, "cursor"),
]


@pytest.fixture
def world(trader: Callable[[], Backend], connect: Callable[[], Backend]) -> World:
    alice, bob = trader(), trader()
    posted = alice.create_offer("OpenAI", "Anthropic", "10", "1.5")
    costly = alice.create_offer("OpenAI", "Anthropic", "900", "1000")
    return World(alice, bob, posted.id, costly.id, connect)


@pytest.mark.parametrize(("action", "error", "field"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_rejected_input_changes_nothing(
    world: World,
    market_rows: Callable[[], dict[str, list[tuple[Any, ...]]]],
    action: Action,
    error: type[DeskError],
    field: str | None,
) -> None:
    before = market_rows()

    with pytest.raises(error) as raised:
        action(world)

    assert raised.value.message
    if field is not None:
        assert isinstance(raised.value, InvalidInput)
        assert raised.value.field == field
        assert raised.value.message.startswith(f"{field}: ")
    after = market_rows()
    assert after["users"] == before["users"]
    assert after["balances"] == before["balances"]
    assert after["trades"] == before["trades"]
    assert after["ledger"] == before["ledger"]


def test_rejection_cases_have_unique_names() -> None:
    names = [case[0] for case in CASES]
    assert len(names) == len(set(names))
