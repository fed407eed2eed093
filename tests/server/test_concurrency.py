"""Concurrent takers of one offer over HTTP: exactly one wins, the rest get 409."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from desk.backend import Backend, Conflict, DeskError
from desk.backend.remote import HttpBackend
from tests.serving import ServerProcess
from tests.support import PASSWORD, unique_name

TAKERS = 16


def balances_of(backend: Backend) -> dict[str, Decimal]:
    return {row.token_type: row.balance for row in backend.balances().balances}


@pytest.fixture
def remote_trader(server: ServerProcess) -> Iterator[Callable[[], HttpBackend]]:
    opened: list[HttpBackend] = []

    def factory() -> HttpBackend:
        backend = HttpBackend(server.url)
        opened.append(backend)
        name = unique_name("racer")
        backend.register(name, f"{name}@example.com", PASSWORD)
        backend.login(name, PASSWORD)
        return backend

    yield factory
    for backend in opened:
        backend.close()


def test_one_of_sixteen_takers_wins(server: ServerProcess,
                                    remote_trader: Callable[[], HttpBackend],
                                    assert_audit: Callable[[], None]) -> None:
    maker = remote_trader()
    takers = [remote_trader() for _ in range(TAKERS)]
    offer = maker.create_offer("OpenAI", "Anthropic", "10", "0.8")
    start = threading.Barrier(TAKERS)
    log_start = server.log_size()

    def take(backend: HttpBackend) -> object:
        start.wait()
        try:
            return backend.execute_offer(offer.id)
        except DeskError as error:
            return error

    with ThreadPoolExecutor(max_workers=TAKERS) as pool:
        outcomes = list(pool.map(take, takers))

    winners = [taker for taker, outcome in zip(takers, outcomes, strict=True)
               if not isinstance(outcome, DeskError)]
    conflicts = [outcome for outcome in outcomes if isinstance(outcome, Conflict)]
    assert len(winners) == 1
    assert len(conflicts) == TAKERS - 1

    statuses = server.wait_for_log(r"POST /api/trades/execute (\d{3}) ", TAKERS, log_start)
    assert sorted(statuses) == ["200"] + ["409"] * (TAKERS - 1)

    assert balances_of(maker)["OpenAI"] == Decimal("990")
    assert balances_of(maker)["Anthropic"] == Decimal("1008")
    assert balances_of(winners[0])["OpenAI"] == Decimal("1010")
    assert balances_of(winners[0])["Anthropic"] == Decimal("992")
    for taker in takers:
        if taker is not winners[0]:
            assert balances_of(taker)["OpenAI"] == Decimal("1000")
            assert balances_of(taker)["Anthropic"] == Decimal("1000")
    assert_audit()
