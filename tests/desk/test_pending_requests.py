"""Keys pressed while the desk waits for the market: none repeats a request, hides its
result or drops rows already loaded."""

from __future__ import annotations

from desk.backend import LocalBackend, Market
from desk.screens.convert import ConvertDialog
from desk.screens.login import LoginScreen
from desk.screens.new_offer import NewOfferDialog
from desk.screens.portfolio import PortfolioScreen
from desk.screens.trades import PAGE_SIZE
from desk.widgets.table import KeyedTable
from tests.desk.harness import (
    GatedBackend,
    HeldLoginBackend,
    HeldWritesBackend,
    fill,
    log_in,
    make_app,
    settle,
)
from tests.desk.test_flows import active_trades
from tests.support import PASSWORD


async def test_repeated_post_keys_post_once(desk_market: Market) -> None:
    backend = HeldWritesBackend(desk_market)
    app = make_app(lambda: backend)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        await fill(pilot, "#offer-amount", "10")
        await fill(pilot, "#offer-rate", "1")
        await pilot.press("enter", "enter", "ctrl+s")
        assert backend.writes == 1
        backend.gate.set()
        await settle(pilot)
        assert not isinstance(app.screen, NewOfferDialog)
        assert app.errors_shown() == []
    assert len(active_trades(desk_market)) == 1


async def test_escape_waits_for_pending_post(desk_market: Market) -> None:
    backend = HeldWritesBackend(desk_market)
    app = make_app(lambda: backend)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        await fill(pilot, "#offer-amount", "10")
        await fill(pilot, "#offer-rate", "1")
        await pilot.press("enter", "escape")
        assert isinstance(app.screen, NewOfferDialog)
        assert ("warning", "Please wait",
                "Posting the offer; the dialog closes when the market answers.") in app.notices
        backend.gate.set()
        await settle(pilot)
        assert not isinstance(app.screen, NewOfferDialog)
        [offer_id] = [trade_id for trade_id, _, _ in active_trades(desk_market)]
        assert any(title == "Offer posted" for _, title, _ in app.notices)
        assert offer_id in app.screen.query_one("#offers").keys


async def test_repeated_convert_keys_convert_once(desk_market: Market) -> None:
    backend = HeldWritesBackend(desk_market)
    app = make_app(lambda: backend)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        await fill(pilot, "#convert-amount", "100")
        await pilot.press("enter", "enter", "ctrl+s", "escape")
        assert backend.writes == 1
        assert isinstance(app.screen, ConvertDialog)
        backend.gate.set()
        await settle(pilot)
        assert not isinstance(app.screen, ConvertDialog)
        converted = [message for _, title, message in app.notices if title == "Converted"]
        assert converted == ["Converted 100.000000 OpenAI to 0.00101522 BTC."]
        balances = {balance.token_type: balance.balance
                    for balance in backend.balances().balances}
        assert balances["OpenAI"] == 4900


async def test_repeated_login_keys_log_in_once(desk_market: Market) -> None:
    backend = HeldLoginBackend(desk_market)
    app = make_app(lambda: backend)
    async with app.run_test(notifications=True) as pilot:
        await settle(pilot)
        await fill(pilot, "#login-username", "demo")
        await fill(pilot, "#login-password", "demo123")
        await pilot.press("enter", "enter")
        assert backend.logins == 1
        backend.gate.set()
        await settle(pilot)
        [login, portfolio] = app.screen_stack
        assert isinstance(login, LoginScreen)
        assert isinstance(portfolio, PortfolioScreen)
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert app.screen is login
        assert app.errors_shown() == []


async def test_repeated_next_page_keys_move_one_page(desk_market: Market) -> None:
    maker = LocalBackend(desk_market)
    maker.register("maker", "maker@example.com", PASSWORD)
    maker.login("maker", PASSWORD)
    ids = [maker.create_offer("OpenAI", "Anthropic", "1", "1.1").id
           for _ in range(PAGE_SIZE + 20)]
    backend = GatedBackend(desk_market)
    backend.gate.set()
    app = make_app(lambda: backend)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press("2")
        await settle(pilot)
        backend.gate.clear()
        await pilot.press("right_square_bracket", "right_square_bracket")
        backend.gate.set()
        await settle(pilot)
        screen = app.screen
        assert screen.query_one(KeyedTable).keys == ids[PAGE_SIZE:]
        status = str(screen.query_one("#page-status").render())
        assert f"Page 2 · offers {PAGE_SIZE + 1}–{PAGE_SIZE + 20}" in status
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert screen.query_one(KeyedTable).keys == ids[:PAGE_SIZE]


async def test_reload_keeps_ledger_rows_loaded(desk_market: Market) -> None:
    trader = LocalBackend(desk_market)
    trader.login("demo", "demo123")
    for _ in range(130):
        trader.convert("OpenAI", "BTC", "1")
    app = make_app(lambda: LocalBackend(desk_market))
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press("4")
        await settle(pilot)
        ledger = app.screen.query_one("#ledger", KeyedTable)
        ledger.focus()
        for _ in range(5):
            await pilot.press("right_square_bracket")
            await settle(pilot)
        loaded = ledger.row_count
        assert loaded > 250
        await pilot.press("r")
        await settle(pilot)
        assert ledger.row_count == loaded
