"""Concurrency on a real SQLite file, with real threads and processes."""

from __future__ import annotations

import multiprocessing
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from desk.backend import (
    Backend,
    Conflict,
    DeskError,
    InsufficientFunds,
    LocalBackend,
    Market,
    MarketConfig,
)
from desk.backend.schemas import Conversion
from desk.backend.store import Database
from tests.conftest import SECRET
from tests.support import PASSWORD

THREADS = 16


def run_together(actions: list[Callable[[], object]]) -> list[object]:
    """Start every action at the same moment on its own thread; return results or errors."""
    barrier = threading.Barrier(len(actions))

    def start(action: Callable[[], object]) -> object:
        barrier.wait()
        try:
            return action()
        except DeskError as error:
            return error

    with ThreadPoolExecutor(max_workers=len(actions)) as pool:
        return list(pool.map(start, actions))


def balance_of(backend: Backend, asset: str) -> Decimal:
    return next(b.balance for b in backend.balances().balances if b.token_type == asset)


def test_one_offer_sixteen_takers(trader: Callable[[], Backend],
                                  assert_audit: Callable[[], None]) -> None:
    seller = trader()
    takers = [trader() for _ in range(THREADS)]
    offer = seller.create_offer("OpenAI", "Anthropic", "500", "1.2")

    results = run_together([lambda taker=taker: taker.execute_offer(offer.id)
                            for taker in takers])

    wins = [result for result in results if not isinstance(result, DeskError)]
    losses = [result for result in results if isinstance(result, DeskError)]
    assert len(wins) == 1
    assert all(isinstance(loss, Conflict) for loss in losses)
    winner = next(t for t, r in zip(takers, results, strict=True) if r is wins[0])
    assert balance_of(winner, "OpenAI") == Decimal(1500)
    assert balance_of(winner, "Anthropic") == Decimal(400)
    assert balance_of(seller, "Anthropic") == Decimal(1600)
    assert balance_of(seller, "OpenAI") == Decimal(500)
    for taker in takers:
        if taker is not winner:
            assert balance_of(taker, "OpenAI") == Decimal(1000)
            assert balance_of(taker, "Anthropic") == Decimal(1000)
    assert_audit()


def test_many_draws_on_one_balance(trader: Callable[[], Backend],
                                   assert_audit: Callable[[], None]) -> None:
    """Offers and conversions race for one 1,000 OpenAI balance: never more than it holds."""
    alice = trader()
    actions: list[Callable[[], object]] = []
    for n in range(THREADS * 2):
        if n % 2:
            actions.append(lambda: alice.create_offer("OpenAI", "Google", "70", "1"))
        else:
            actions.append(lambda: alice.convert("OpenAI", "BTC", "70"))

    results = run_together(actions)

    succeeded = [r for r in results if not isinstance(r, DeskError)]
    failed = [r for r in results if isinstance(r, DeskError)]
    assert len(succeeded) == 14  # 14 x 70 = 980; a 15th would need 1,050
    assert all(isinstance(error, InsufficientFunds) for error in failed)
    openai = next(b for b in alice.balances().balances if b.token_type == "OpenAI")
    converted = sum(1 for r in succeeded if isinstance(r, Conversion))
    assert openai.balance == Decimal(1000) - 70 * converted
    assert openai.held == Decimal(70) * (14 - converted)
    assert openai.available == Decimal(20)
    assert_audit()


def test_cancel_races_takers(trader: Callable[[], Backend],
                             assert_audit: Callable[[], None]) -> None:
    """The creator cancels while others take the offer: exactly one of them succeeds."""
    seller = trader()
    takers = [trader() for _ in range(THREADS // 2)]
    offer = seller.create_offer("OpenAI", "Anthropic", "500", "1.2")
    actions: list[Callable[[], object]] = [lambda: seller.cancel_offer(offer.id)
                                           for _ in range(THREADS // 2)]
    actions += [lambda taker=taker: taker.execute_offer(offer.id) for taker in takers]

    results = run_together(actions)

    wins = [result for result in results if not isinstance(result, DeskError)]
    assert len(wins) == 1
    assert all(isinstance(result, Conflict) for result in results if result is not wins[0])
    openai = next(b for b in seller.balances().balances if b.token_type == "OpenAI")
    assert openai.held == 0
    executed = results.index(wins[0]) >= THREADS // 2
    assert openai.balance == (Decimal(500) if executed else Decimal(1000))
    assert balance_of(seller, "Anthropic") == (Decimal(1600) if executed else Decimal(1000))
    taker_openai = sorted(balance_of(taker, "OpenAI") for taker in takers)
    expected = [Decimal(1000)] * len(takers)
    if executed:
        expected[-1] = Decimal(1500)
    assert taker_openai == expected
    assert_audit()


def _take_all(url: str, username: str, offer_ids: list[int], seed: int,
              wins: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    market = Market(Database(url), MarketConfig(secret_key=SECRET, bcrypt_rounds=4))
    backend = LocalBackend(market)
    backend.login(username, PASSWORD)
    random.Random(seed).shuffle(offer_ids)
    for offer_id in offer_ids:
        try:
            backend.execute_offer(offer_id)
        except Conflict:
            continue
        wins.put(offer_id)
    market.close()


@pytest.mark.slow
def test_processes_share_one_book(market: Market, db_url: str,
                                  assert_audit: Callable[[], None]) -> None:
    """Four processes race to take the same 30 offers: each offer is taken exactly once."""
    market.register("seller", "seller@example.com", PASSWORD)
    seller = LocalBackend(market)
    seller.login("seller", PASSWORD)
    offers = [seller.create_offer("Cohere", "Mistral", "10", "1").id for _ in range(30)]
    takers = []
    for n in range(4):
        market.register(f"taker{n}", f"taker{n}@example.com", PASSWORD)
        takers.append(f"taker{n}")

    context = multiprocessing.get_context("spawn")
    wins = context.Queue()
    processes = [context.Process(target=_take_all, args=(db_url, name, list(offers), n, wins))
                 for n, name in enumerate(takers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0
    taken = [wins.get(timeout=5) for _ in range(len(offers))]
    assert sorted(taken) == sorted(offers)
    assert wins.empty()
    assert seller.list_offers(mine=True).trades == []
    assert balance_of(seller, "Mistral") == Decimal(1300)
    assert_audit()
