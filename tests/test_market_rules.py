"""Rules that need control of the market itself: house liquidity and issuance."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from desk.backend import InsufficientFunds, LocalBackend, Market, MarketConfig, seeding
from desk.backend.audit import audit
from desk.backend.models import LedgerEntry
from desk.backend.seeding import load_seed
from desk.backend.store import Database
from tests.conftest import SECRET
from tests.support import PASSWORD, Clock


@pytest.fixture
def thin_market(tmp_path: Path, clock: Clock) -> Iterator[Market]:
    """A market whose house holds only 1,500 of each AI token and 0.015 BTC."""
    data = load_seed()
    data.house.liquidity = {asset: Decimal("0.015") if asset == "BTC" else Decimal(1500)
                            for asset in data.house.liquidity}
    config = MarketConfig(secret_key=SECRET, bcrypt_rounds=4, clock=clock)
    market = Market(Database(f"sqlite:///{tmp_path / 'thin.db'}"), config)
    seeding.create_schema(market.database)
    seeding.seed_database(market.database, market.hasher, clock(), demo=False, data=data)
    yield market
    market.close()


def test_grant_issues_what_house_lacks(thin_market: Market) -> None:
    for name in ("first", "second"):
        thin_market.register(name, f"{name}@example.com", PASSWORD)

    with thin_market.database.read() as connection:
        issued = connection.execute(
            select(LedgerEntry.token_type, LedgerEntry.amount)
            .where(LedgerEntry.reason == "issuance", LedgerEntry.reference == "user:3")
        ).all()
    # The house paid the first grant and had 500 (0.005 BTC) left for the second.
    assert sorted(issued) == sorted(
        [(asset, 500_000_000) for asset in ("OpenAI", "Anthropic", "Google", "Cohere",
                                            "Mistral")] + [("BTC", 500_000)])
    assert all(check.passed for check in audit(thin_market.database))


def test_house_without_liquidity_rejects_conversion(thin_market: Market) -> None:
    thin_market.register("rich", "rich@example.com", PASSWORD)
    backend = LocalBackend(thin_market)
    backend.login("rich", PASSWORD)
    before = backend.balances()
    with pytest.raises(InsufficientFunds, match="the market cannot pay"):
        backend.convert("OpenAI", "BTC", "1000")  # worth about 0.0101 BTC; the house has 0.005
    assert backend.balances() == before
    assert all(check.passed for check in audit(thin_market.database))
