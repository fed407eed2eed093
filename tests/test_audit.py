"""The market audit: its checks on a market that keeps trading, and the ``desk audit`` command."""

from __future__ import annotations

import threading

import pytest

from desk.backend import Market
from desk.backend.audit import audit
from tests.support import PASSWORD, unique_name

# Offers created and taken by the trading thread while the audits run.
TRADING_ROUNDS = 60


def register(market: Market) -> int:
    name = unique_name()
    return market.register(name, f"{name}@example.com", PASSWORD).id


@pytest.mark.slow
def test_audit_passes_while_trading(market: Market) -> None:
    """Each audit reads one snapshot, so trades committed between its queries never show up
    as a mismatch (PostgreSQL's READ COMMITTED would give each query a new snapshot)."""
    alice, bob = register(market), register(market)
    finished = threading.Event()

    def trade() -> None:
        try:
            for _ in range(TRADING_ROUNDS):
                offer = market.create_offer(alice, "OpenAI", "Anthropic", "1", "1")
                market.execute_offer(bob, offer.id)
                offer = market.create_offer(bob, "OpenAI", "Anthropic", "1", "1")
                market.execute_offer(alice, offer.id)
        finally:
            finished.set()

    trader = threading.Thread(target=trade)
    trader.start()
    failures = []
    audits = 0
    while not finished.is_set() or audits < 5:
        failures += [check for check in audit(market.database) if not check.passed]
        audits += 1
    trader.join()

    assert failures == []
    assert all(check.passed for check in audit(market.database))
