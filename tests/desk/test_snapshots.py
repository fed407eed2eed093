"""Screenshots of every screen and dialog, in their normal, empty, loading and error states.

Every desk here has a fixed clock and time zone, a fixed terminal size, animations and cursor
blinking off, and a market seeded the same way each run. Each screenshot is taken after the
desk's workers finished. Regenerate with ``pytest --snapshot-update`` and read the SVGs that
changed before committing them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from desk.backend import LocalBackend, Market
from desk.backend.interface import Backend
from desk.backend.stream import StreamState
from tests.desk.conftest import ALICE, FixedFeed
from tests.desk.harness import (
    DroppingBackend,
    GatedBackend,
    SteeredBackend,
    desk_on,
    fill,
    log_in,
    make_app,
    settle,
)
from tests.support import PASSWORD

SnapCompare = Callable[..., bool]


def at(*keys: str, user: tuple[str, str] = ("demo", "demo123"), press_after: tuple[str, ...] = ()
       ) -> Callable[[Pilot[Any]], Any]:
    """Return a run_before that logs in, presses ``keys`` with settling, then ``press_after``."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await log_in(pilot, *user)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        if press_after:
            await pilot.press(*press_after)
        await settle(pilot)

    return run_before


def take_one_offer(market: Market) -> None:
    """Let the demo trader take alice's first offer and alice cancel her last one."""
    demo = LocalBackend(market)
    demo.login("demo", "demo123")
    alice = LocalBackend(market)
    alice.login(ALICE, PASSWORD)
    offers = alice.list_offers(mine=True).trades
    demo.execute_offer(offers[0].id)
    alice.cancel_offer(offers[-1].id)


# Login


def test_login(snap_compare: SnapCompare, desk_market: Market) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)

    assert snap_compare(desk_on(desk_market), run_before=run_before)


def test_login_bad_password(snap_compare: SnapCompare, desk_market: Market) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await log_in(pilot, "demo", "not-the-password")

    assert snap_compare(desk_on(desk_market), run_before=run_before)


def test_register_form(snap_compare: SnapCompare, desk_market: Market) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("ctrl+r")
        await fill(pilot, "#register-username", "x")
        await fill(pilot, "#register-email", "not-an-address")
        await fill(pilot, "#register-password", "secret1")
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(desk_on(desk_market), run_before=run_before)


def test_login_market_not_opened(snap_compare: SnapCompare) -> None:
    def open_backend() -> Backend:
        raise OSError("unable to open database file")

    app = make_app(open_backend)
    app.set_reactive(type(app).location, "database /nowhere/market.db")

    async def run_before(pilot: Pilot[Any]) -> None:
        await log_in(pilot)

    assert snap_compare(app, run_before=run_before)


# Portfolio


def test_portfolio(snap_compare: SnapCompare, book: Market) -> None:
    assert snap_compare(desk_on(book), run_before=at(user=(ALICE, PASSWORD)))


def test_portfolio_wide(snap_compare: SnapCompare, book: Market) -> None:
    assert snap_compare(desk_on(book), run_before=at(user=(ALICE, PASSWORD)),
                        terminal_size=(120, 30))


def test_portfolio_loading(snap_compare: SnapCompare, desk_market: Market) -> None:
    backend = GatedBackend(desk_market)
    app = make_app(lambda: backend)
    backend.open_on_exit(app)

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        screen = pilot.app.screen
        screen.query_one("#login-username").value = "demo"
        screen.query_one("#login-password").value = "demo123"
        screen.query_one("#login-password").focus()
        await pilot.press("enter")
        # Login and prices return at once; the balances call waits on the gate.
        while not pilot.app.username:
            await pilot.pause()
        await pilot.pause()

    assert snap_compare(app, run_before=run_before)


def test_convert_dialog(snap_compare: SnapCompare, desk_market: Market) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await at("c")(pilot)
        await fill(pilot, "#convert-amount", "2500")
        await settle(pilot)

    assert snap_compare(desk_on(desk_market), run_before=run_before)


def test_convert_dialog_too_much(snap_compare: SnapCompare, desk_market: Market) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await at("3", "c")(pilot)
        await fill(pilot, "#convert-amount", "6000.5")
        await settle(pilot)

    assert snap_compare(desk_on(desk_market), run_before=run_before)


# Open trades


def test_open_trades(snap_compare: SnapCompare, book: Market) -> None:
    assert snap_compare(desk_on(book), run_before=at("2"))


def test_open_trades_light(snap_compare: SnapCompare, book: Market) -> None:
    app = desk_on(book)
    app.theme = "textual-light"
    assert snap_compare(app, run_before=at("2"))


def test_open_trades_empty(snap_compare: SnapCompare, desk_market: Market) -> None:
    assert snap_compare(desk_on(desk_market), run_before=at("2"))


def test_open_trades_mine_only(snap_compare: SnapCompare, book: Market) -> None:
    assert snap_compare(desk_on(book), run_before=at("2", "m"))


def test_open_trades_loading(snap_compare: SnapCompare, book: Market) -> None:
    backend = GatedBackend(book)
    backend.gate.set()
    app = make_app(lambda: backend)
    backend.open_on_exit(app)

    async def run_before(pilot: Pilot[Any]) -> None:
        await at()(pilot)
        backend.gate.clear()
        await pilot.press("2")
        await pilot.pause()

    assert snap_compare(app, run_before=run_before)


def test_new_offer_dialog(snap_compare: SnapCompare, book: Market) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await at("2", "n")(pilot)
        await fill(pilot, "#offer-amount", "120.5")
        await fill(pilot, "#offer-rate", "1.05")
        await settle(pilot)

    assert snap_compare(desk_on(book), run_before=run_before)


def test_new_offer_dialog_errors(snap_compare: SnapCompare, book: Market) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await at("2", "n")(pilot)
        await fill(pilot, "#offer-amount", "9000.1234567")
        await fill(pilot, "#offer-rate", "abc")
        await pilot.press("ctrl+s")
        await settle(pilot)

    assert snap_compare(desk_on(book), run_before=run_before)


def test_confirm_take(snap_compare: SnapCompare, book: Market) -> None:
    assert snap_compare(desk_on(book), run_before=at("2", "down", "t"))


def test_confirm_cancel(snap_compare: SnapCompare, book: Market) -> None:
    assert snap_compare(desk_on(book), run_before=at("2", "x", user=(ALICE, PASSWORD)))


def test_take_without_funds(snap_compare: SnapCompare, book: Market) -> None:
    whale = LocalBackend(book)
    whale.register("whale", "whale@example.com", PASSWORD)
    whale.login("whale", PASSWORD)
    whale.create_offer("OpenAI", "BTC", "900", "0.011111111")
    assert snap_compare(desk_on(book), run_before=at("2", "down", "down", "down", "t", "y"))


def test_take_dialog_warns_of_shortfall(snap_compare: SnapCompare, book: Market) -> None:
    whale = LocalBackend(book)
    whale.register("whale", "whale@example.com", PASSWORD)
    whale.login("whale", PASSWORD)
    whale.create_offer("OpenAI", "BTC", "900", "0.011111111")
    assert snap_compare(desk_on(book), run_before=at("2", "down", "down", "down", "t"))


def test_help(snap_compare: SnapCompare, book: Market) -> None:
    assert snap_compare(desk_on(book), run_before=at("2", "question_mark"))


# Market


def test_market(snap_compare: SnapCompare, desk_market: Market) -> None:
    assert snap_compare(desk_on(desk_market), run_before=at("3"))


def test_market_light(snap_compare: SnapCompare, desk_market: Market) -> None:
    app = desk_on(desk_market)
    app.theme = "textual-light"
    assert snap_compare(app, run_before=at("3"))


def test_market_ticking(snap_compare: SnapCompare, desk_market: Market, feed: FixedFeed) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await at("3")(pilot)
        feed.tick(3)
        await settle(pilot)

    assert snap_compare(desk_on(desk_market), run_before=run_before)


def test_price_chart(snap_compare: SnapCompare, desk_market: Market, feed: FixedFeed) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await at("3", "right", "enter")(pilot)
        feed.tick(3)
        await settle(pilot)

    assert snap_compare(desk_on(desk_market), run_before=run_before)


def test_price_chart_in_btc(snap_compare: SnapCompare, desk_market: Market,
                            feed: FixedFeed) -> None:
    assert snap_compare(desk_on(desk_market), run_before=at("3", "enter", "b"))


# History


def test_history(snap_compare: SnapCompare, book: Market) -> None:
    take_one_offer(book)
    assert snap_compare(desk_on(book), run_before=at("4", user=(ALICE, PASSWORD)))


def test_history_empty(snap_compare: SnapCompare, desk_market: Market) -> None:
    assert snap_compare(desk_on(desk_market), run_before=at("4"))


# Everywhere


def test_connection_lost(snap_compare: SnapCompare, desk_market: Market) -> None:
    backend = DroppingBackend(desk_market)
    app = make_app(lambda: backend)

    async def run_before(pilot: Pilot[Any]) -> None:
        await at()(pilot)
        backend.dropped = True
        await pilot.press("r")
        await settle(pilot)

    assert snap_compare(app, run_before=run_before)


def test_stream_reconnecting(snap_compare: SnapCompare, desk_market: Market) -> None:
    backend = SteeredBackend(desk_market)

    async def run_before(pilot: Pilot[Any]) -> None:
        await at("3")(pilot)
        assert backend.stream is not None
        backend.stream.steer(StreamState.RECONNECTING,
                             "the connection was lost; reconnecting in 2.0 s")
        await settle(pilot)

    assert snap_compare(make_app(lambda: backend), run_before=run_before)


@pytest.mark.parametrize("size", [(50, 24), (80, 12)], ids=["narrow", "short"])
def test_too_small(snap_compare: SnapCompare, desk_market: Market,
                   size: tuple[int, int]) -> None:
    assert snap_compare(desk_on(desk_market), run_before=at(), terminal_size=size)
