"""Random sequences of operations by several traders, checked against a model after each step."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from desk.backend import (
    Conflict,
    Forbidden,
    InsufficientFunds,
    InvalidInput,
    LocalBackend,
    Market,
    MarketConfig,
)
from desk.backend.audit import audit
from desk.backend.conversion import quote
from desk.backend.money import ASSETS, PLACES
from desk.backend.trading import payment_for
from tests.conftest import SECRET
from tests.support import PASSWORD, Clock

TRADERS = 3
traders = st.integers(0, TRADERS - 1)
assets = st.sampled_from(ASSETS)


@st.composite
def amounts(draw: st.DrawFn) -> Decimal:
    """Amounts from one smallest unit up to more than a starting grant holds."""
    places = draw(st.sampled_from([0, 2, 6, 8]))  # 8 is valid for BTC only
    units = draw(st.integers(1, 1_500 * 10**places))
    return Decimal(units).scaleb(-places)


rates = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(5), places=4)


class MarketMachine(RuleBasedStateMachine):
    """Drives a real market and a plain model of every balance side by side."""

    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.TemporaryDirectory()
        url = f"sqlite:///{Path(self.folder.name) / 'market.db'}"
        self.market = Market.open(url, MarketConfig(secret_key=SECRET, bcrypt_rounds=4,
                                                    clock=Clock()))
        self.traders: list[LocalBackend] = []
        self.balance: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
        self.held: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
        self.active: dict[int, tuple[int, str, str, Decimal, Decimal]] = {}
        self.closed: dict[int, int] = {}  # closed offer id -> creator
        for n in range(TRADERS):
            self.market.register(f"trader{n}", f"trader{n}@example.com", PASSWORD)
            backend = LocalBackend(self.market)
            backend.login(f"trader{n}", PASSWORD)
            self.traders.append(backend)
            for entry in backend.balances().balances:
                self.balance[(n, entry.token_type)] = entry.balance

    def teardown(self) -> None:
        self.market.close()
        self.folder.cleanup()

    def available(self, trader: int, asset: str) -> Decimal:
        return self.balance[(trader, asset)] - self.held[(trader, asset)]

    @rule(trader=traders, source=assets, wanted=assets, amount=amounts(), rate=rates)
    def create_offer(self, trader: int, source: str, wanted: str, amount: Decimal,
                     rate: Decimal) -> None:
        target = wanted  # "target" is a reserved argument name of @rule
        backend = self.traders[trader]
        fits = amount == amount.quantize(Decimal(1).scaleb(-PLACES[source]))
        valid = source != target and fits and payment_for(amount, rate, target) > 0
        try:
            trade = backend.create_offer(source, target, amount, rate)
        except InvalidInput:
            assert not valid
            return
        except InsufficientFunds:
            assert valid
            assert amount > self.available(trader, source)
            return
        assert valid
        assert amount <= self.available(trader, source)
        event("offer created")
        self.held[(trader, source)] += amount
        self.active[trade.id] = (trader, source, target, amount, rate)

    @precondition(lambda self: bool(self.active))
    @rule(data=st.data(), taker=traders)
    def execute_offer(self, data: st.DataObject, taker: int) -> None:
        offer = data.draw(st.sampled_from(sorted(self.active)))
        creator, source, target, amount, rate = self.active[offer]
        payment = payment_for(amount, rate, target)
        try:
            self.traders[taker].execute_offer(offer)
        except Forbidden:
            assert taker == creator
            return
        except InsufficientFunds:
            assert payment > self.available(taker, target)
            return
        assert taker != creator
        assert payment <= self.available(taker, target)
        event("offer executed")
        self._close(offer)
        self.balance[(creator, source)] -= amount
        self.balance[(taker, source)] += amount
        self.balance[(taker, target)] -= payment
        self.balance[(creator, target)] += payment

    @precondition(lambda self: bool(self.active))
    @rule(data=st.data(), trader=traders)
    def cancel_offer(self, data: st.DataObject, trader: int) -> None:
        offer = data.draw(st.sampled_from(sorted(self.active)))
        creator = self.active[offer][0]
        try:
            self.traders[trader].cancel_offer(offer)
        except Forbidden:
            assert trader != creator
            return
        assert trader == creator
        event("offer cancelled")
        self._close(offer)

    @precondition(lambda self: bool(self.closed))
    @rule(data=st.data(), trader=traders)
    def act_on_closed_offer(self, data: st.DataObject, trader: int) -> None:
        """A closed offer can be neither taken nor cancelled again."""
        offer, creator = data.draw(st.sampled_from(sorted(self.closed.items())))
        backend = self.traders[trader]
        with pytest.raises(Forbidden if trader == creator else Conflict):
            backend.execute_offer(offer)
        with pytest.raises(Conflict if trader == creator else Forbidden):
            backend.cancel_offer(offer)

    @rule(trader=traders, source=assets, wanted=assets, amount=amounts())
    def convert(self, trader: int, source: str, wanted: str, amount: Decimal) -> None:
        target = wanted
        backend = self.traders[trader]
        try:
            result = backend.convert(source, target, amount)
        except InvalidInput:
            return
        except InsufficientFunds:
            assert amount > self.available(trader, source)
            return
        prices = {price.token_type: price for price in backend.prices()}
        assert result.received == quote(amount, source, target, prices)[0]
        event("converted")
        self.balance[(trader, source)] -= amount
        self.balance[(trader, target)] += result.received

    def _close(self, offer: int) -> None:
        creator, source, _, amount, _ = self.active.pop(offer)
        self.held[(creator, source)] -= amount
        self.closed[offer] = creator

    @invariant()
    def balances_match_model(self) -> None:
        for n, backend in enumerate(self.traders):
            for entry in backend.balances().balances:
                key = (n, entry.token_type)
                assert entry.balance == self.balance[key], key
                assert entry.held == self.held[key], key
                assert entry.available >= 0

    @invariant()
    def market_invariants_hold(self) -> None:
        failed = [check for check in audit(self.market.database) if not check.passed]
        assert not failed, [(check.name, check.problems) for check in failed]


MarketMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_market_sequences = MarketMachine.TestCase
