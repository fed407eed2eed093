"""Whole flows through the desk by keyboard, on a real market on SQLite.

Each desk has its own backend and session; two desks on one market are two traders.
"""

from __future__ import annotations

import csv
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from textual.widgets import Select, Static

from desk.backend import Market
from desk.backend.models import Trade, User
from desk.screens.login import LoginScreen
from desk.screens.market import MarketScreen
from desk.screens.portfolio import PortfolioScreen
from desk.screens.trades import OpenTradesScreen
from desk.widgets.balances import BalanceTable
from desk.widgets.field import Field
from desk.widgets.table import KeyedTable
from tests.desk.conftest import ALICE
from tests.desk.harness import desk_on, fill, log_in, settle
from tests.support import PASSWORD, snapshot

DB_URL = "sqlite:///market.db"


def active_trades(market: Market) -> list[tuple[int, int, str]]:
    with market.database.read() as connection:
        rows = connection.execute(
            select(Trade.id, Trade.creator_id, Trade.status).order_by(Trade.id)).all()
    return [tuple(row) for row in rows]


async def test_login_fails_then_succeeds(desk_market: Market) -> None:
    app = desk_on(desk_market)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot, "demo", "wrong-password")
        assert isinstance(app.screen, LoginScreen)
        error = app.screen.query_one("#login-error")
        assert "invalid username or password" in str(error.render())
        assert app.username == ""

        app.screen.query_one("#login-password").value = ""
        await log_in(pilot)
        assert isinstance(app.screen, PortfolioScreen)
        assert app.username == "demo"
        table = app.screen.query_one(BalanceTable)
        assert table.cell_text("OpenAI", "available") == "5,000.000000"
        assert app.errors_shown() == []


async def test_register_logs_in(desk_market: Market) -> None:
    app = desk_on(desk_market)
    async with app.run_test(notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+r", *"newbie", "enter", *"newbie@example.com", "enter",
                          *PASSWORD, "enter")
        await settle(pilot)
        assert isinstance(app.screen, PortfolioScreen)
        assert app.username == "newbie"
        table = app.screen.query_one(BalanceTable)
        assert table.cell_text("OpenAI", "total") == "1,000.000000"
        assert ("information", "Welcome",
                "Account newbie created with the starting grant.") in app.notices
    with desk_market.database.read() as connection:
        assert connection.execute(
            select(User.email).where(User.username == "newbie")).scalar_one() == (
            "newbie@example.com")


async def test_register_rejects_short_password(desk_market: Market) -> None:
    app = desk_on(desk_market)
    async with app.run_test(notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+r", *"shorty", "enter", *"s@example.com", "enter",
                          *"abc", "enter")
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen)
        assert "at least 6 characters" in str(app.screen.query_one("#register-error").render())


async def post_offer(pilot, amount: str, rate: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("2")
    await settle(pilot)
    await pilot.press("n")
    await settle(pilot)
    await fill(pilot, "#offer-amount", amount)
    await fill(pilot, "#offer-rate", rate)
    await pilot.press("enter")
    await settle(pilot)


async def test_offer_taken_by_second_desk(desk_market: Market, tmp_path: Path) -> None:
    maker = desk_on(desk_market)
    async with maker.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await post_offer(pilot, "250.5", "0.8")
        assert isinstance(maker.screen, OpenTradesScreen)
        table = maker.screen.query_one(KeyedTable)
        [offer_id] = table.keys
        assert table.cell_text(offer_id, "pays") == "200.400000"
        assert table.cell_text(offer_id, "creator") == "you"
        await pilot.press("1")
        await settle(pilot)
        balances = maker.screen.query_one(BalanceTable)
        assert balances.cell_text("OpenAI", "held") == "250.500000"
        assert balances.cell_text("OpenAI", "available") == "4,749.500000"
        assert maker.errors_shown() == []

    taker_backend_user = "bob"
    from desk.backend import LocalBackend

    LocalBackend(desk_market).register(taker_backend_user, "bob@example.com", PASSWORD)
    taker = desk_on(desk_market)
    async with taker.run_test(notifications=True) as pilot:
        await log_in(pilot, taker_backend_user, PASSWORD)
        await pilot.press("2")
        await settle(pilot)
        table = taker.screen.query_one(KeyedTable)
        assert table.selected_key == offer_id
        await pilot.press("t")
        await settle(pilot)
        body = str(taker.screen.query_one(".confirm-body").render())
        assert "You pay      200.400000 Anthropic" in body
        assert "You receive  250.500000 OpenAI" in body
        await pilot.press("y")
        await settle(pilot)
        assert table.row_count == 0
        assert any(title == "Offer taken" for _, title, _ in taker.notices)
        await pilot.press("1")
        await settle(pilot)
        balances = taker.screen.query_one(BalanceTable)
        assert balances.cell_text("OpenAI", "total") == "1,250.500000"
        assert balances.cell_text("Anthropic", "total") == "799.600000"
        await pilot.press("4")
        await settle(pilot)
        history = taker.screen.query_one("#trade-history", KeyedTable)
        assert history.cell_text(offer_id, "side") == "taker"
        assert history.cell_text(offer_id, "gave") == "200.400000 Anthropic"
        assert taker.errors_shown() == []

    maker_again = desk_on(desk_market)
    async with maker_again.run_test(notifications=True) as pilot:
        await log_in(pilot)
        balances = maker_again.screen.query_one(BalanceTable)
        assert balances.cell_text("OpenAI", "total") == "4,749.500000"
        assert balances.cell_text("OpenAI", "held") == "0.000000"
        assert balances.cell_text("Anthropic", "total") == "4,200.400000"
        await pilot.press("4")
        await settle(pilot)
        history = maker_again.screen.query_one("#trade-history", KeyedTable)
        assert history.cell_text(offer_id, "side") == "maker"
        assert history.cell_text(offer_id, "status") == "completed"
    assert [status for _, _, status in active_trades(desk_market)] == ["completed"]


async def test_taker_without_funds_changes_nothing(desk_market: Market) -> None:
    from desk.backend import LocalBackend

    whale = LocalBackend(desk_market)
    whale.register("whale", "whale@example.com", PASSWORD)
    whale.login("whale", PASSWORD)
    # 900 OpenAI for 10 BTC: the demo trader has 0.25 BTC.
    offer = whale.create_offer("OpenAI", "BTC", "900", "0.011111111")
    before = snapshot(DB_URL)

    app = desk_on(desk_market)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("t")
        await settle(pilot)
        warning = str(app.screen.query_one("#take-funds").render())
        assert warning.startswith("⚠ You have 0.25000000 BTC available, less than the "
                                  "9.99999990 BTC this offer costs.")
        assert app.focused is app.screen.query_one("#no")  # Enter selects "No"
        await pilot.press("y")
        await settle(pilot)
        [(severity, title, message)] = app.errors_shown()
        assert title == f"Offer {offer.id} not taken"
        assert message.startswith(f"Cannot take offer {offer.id}")
        assert "you have 0.25000000 BTC available" in message
        assert app.screen.query_one(KeyedTable).row_count == 1
    assert snapshot(DB_URL) == before


async def test_cancel_own_offer(book: Market) -> None:
    app = desk_on(book)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot, ALICE, PASSWORD)
        await pilot.press("2")
        await settle(pilot)
        table = app.screen.query_one(KeyedTable)
        first = table.selected_key
        await pilot.press("x")
        await settle(pilot)
        assert "releases the held" in str(app.screen.query_one(".confirm-body").render())
        await pilot.press("y")
        await settle(pilot)
        assert first not in table.keys
        assert table.row_count == 2
        assert app.errors_shown() == []
    statuses = {trade_id: status for trade_id, _, status in active_trades(book)}
    assert statuses[first] == "cancelled"


async def test_cannot_cancel_anothers_offer(book: Market) -> None:
    app = desk_on(book)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, OpenTradesScreen)
        assert any("is not yours" in message for _, _, message in app.notices)


async def test_convert_from_market(desk_market: Market) -> None:
    app = desk_on(desk_market)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press("3")
        await settle(pilot)
        assert isinstance(app.screen, MarketScreen)
        await pilot.press("c")
        await settle(pilot)
        await fill(pilot, "#convert-amount", "100")
        await settle(pilot)
        preview = str(app.screen.query_one("#convert-preview").render())
        assert "You receive ≈ 0.00101522 BTC" in preview
        assert "out of date" not in preview
        app.connection_problem = "cannot reach server"  # as a failed request would set it
        await settle(pilot)
        preview = str(app.screen.query_one("#convert-preview").render())
        assert "⚠ This price may be out of date: connection lost." in preview
        app.connection_problem = ""
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MarketScreen)
        assert ("information", "Converted",
                "Converted 100.000000 OpenAI to 0.00101522 BTC.") in app.notices
        await pilot.press("1")
        await settle(pilot)
        balances = app.screen.query_one(BalanceTable)
        assert balances.cell_text("OpenAI", "total") == "4,900.000000"
        assert balances.cell_text("BTC", "total") == "0.25101522"
        assert app.errors_shown() == []


async def test_new_offer_checks_fields_as_typed(desk_market: Market) -> None:
    app = desk_on(desk_market)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        await pilot.press(*"1.1234567")
        row = app.screen.query_one("#row-amount")
        assert row.has_class("-invalid")
        assert "at most 6 decimal places" in str(row.query_one(".row-error").render())
        await pilot.press("backspace")
        assert not row.has_class("-invalid")
        await pilot.press("enter", *"0.0000001")
        rate_row = app.screen.query_one("#row-rate")
        assert "a taker would pay nothing" in str(rate_row.query_one(".row-error").render())
        await pilot.press("enter")
        await settle(pilot)
        assert "Fix the fields" in str(app.screen.query_one("#offer-status").render())
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, OpenTradesScreen)
    assert active_trades(desk_market) == []


async def test_new_offer_clears_stale_status(desk_market: Market) -> None:
    app = desk_on(desk_market)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        await fill(pilot, "#offer-amount", "5")
        await fill(pilot, "#offer-rate", "abc")
        await pilot.press("ctrl+s")
        status = app.screen.query_one("#offer-status", Static)
        assert "Fix the fields" in str(status.render())
        await fill(pilot, "#offer-rate", "1.5")
        assert str(status.render()) == ""
        assert not status.has_class("-error")


async def test_empty_offer_marks_missing_fields(desk_market: Market) -> None:
    app = desk_on(desk_market)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        amount_row = app.screen.query_one("#row-amount")
        rate_row = app.screen.query_one("#row-rate")
        assert amount_row.has_class("-invalid")
        assert rate_row.has_class("-invalid")
        assert "enter how much OpenAI you offer" in str(
            amount_row.query_one(".row-error").render())
        assert "enter how much Anthropic you want per OpenAI" in str(
            rate_row.query_one(".row-error").render())
        assert "Fix the fields" in str(app.screen.query_one("#offer-status").render())
    assert active_trades(desk_market) == []


async def test_amount_placeholder_follows_token(desk_market: Market) -> None:
    app = desk_on(desk_market)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        amount = app.screen.query_one("#offer-amount", Field)
        assert amount.placeholder == "how much OpenAI"
        app.screen.query_one("#offer-from", Select).value = "Google"
        await pilot.pause()
        assert amount.placeholder == "how much Google"


async def test_new_offer_reads_thousands_separators(desk_market: Market) -> None:
    app = desk_on(desk_market)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        await fill(pilot, "#offer-amount", "1,0,0")
        row = app.screen.query_one("#row-amount")
        assert "'1,0,0' is not a number" in str(row.query_one(".row-error").render())
        await fill(pilot, "#offer-amount", "1")
        await fill(pilot, "#offer-rate", "1,000.5")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, OpenTradesScreen)
    with desk_market.database.read() as connection:
        rate = connection.execute(select(Trade.exchange_rate)).scalar_one()
    assert rate == Decimal("1000.5")


async def test_new_offer_checks_payment_limit(desk_market: Market) -> None:
    app = desk_on(desk_market)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        await fill(pilot, "#offer-amount", "100")
        await fill(pilot, "#offer-rate", "100,000,000,000")
        error = str(app.screen.query_one("#row-rate .row-error").render())
        assert error == ("✗ a taker would pay 10,000,000,000,000.000000 Anthropic, above the "
                         "maximum of 1,000,000,000,000")


async def test_export_csv_of_book_and_history(book: Market, tmp_path: Path) -> None:
    app = desk_on(book, export_dir=tmp_path)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        [(_, title, message)] = [n for n in app.notices if n[1] == "Exported"]
        path = Path(message.split(" to ", 1)[1])
        assert path.parent == tmp_path
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert [row["amount"] for row in rows] == ["250.500000", "100.000000", "12.345678"]
        assert rows[0]["payment"] == "200.400000"

        await pilot.press("4")
        await settle(pilot)
        await pilot.press("tab")
        await pilot.press("e")
        await settle(pilot)
        ledger_notice = [n for n in app.notices if n[1] == "Exported"][-1][2]
        assert "ledger entries" in ledger_notice
        ledger_path = Path(ledger_notice.split(" to ", 1)[1])
        with ledger_path.open(newline="") as handle:
            entries = list(csv.DictReader(handle))
        assert {entry["reason"] for entry in entries} == {"grant"}
        assert Decimal(entries[0]["amount"]) > 0
        assert app.errors_shown() == []


async def test_export_names_one_offer(desk_market: Market, tmp_path: Path) -> None:
    from desk.backend import LocalBackend

    alice = LocalBackend(desk_market)
    alice.register(ALICE, "alice@example.com", PASSWORD)
    alice.login(ALICE, PASSWORD)
    alice.create_offer("OpenAI", "Anthropic", "1", "1")
    (tmp_path / "exports").mkdir()
    app = desk_on(desk_market, export_dir=Path("exports"))
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        [(_, _, message)] = [n for n in app.notices if n[1] == "Exported"]
        assert message.startswith(f"Wrote 1 offer to {tmp_path / 'exports'}/open-trades-")


async def test_mine_only_marks_state(book: Market) -> None:
    app = desk_on(book)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press("2")
        await settle(pilot)
        mine = app.screen.query_one("#filter-mine")
        assert str(mine.render()).startswith("▐ ▌ Mine only (m): off")
        await pilot.press("m")
        await settle(pilot)
        assert str(mine.render()).startswith("▐✓▌ Mine only (m): on")


async def test_expired_session_returns_to_login(desk_market: Market) -> None:
    app = desk_on(desk_market)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        assert isinstance(app.screen, PortfolioScreen)
        desk_market.clock.advance(timedelta(days=2))  # type: ignore[attr-defined]
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen)
        assert "session expired" in str(app.screen.query_one("#login-message").render())
        assert app.username == ""


async def test_logout_and_login_again(desk_market: Market) -> None:
    app = desk_on(desk_market)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press("2")
        await settle(pilot)
        first_portfolio = app.get_screen("portfolio")
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen)
        assert "Logged out." in str(app.screen.query_one("#login-message").render())
        assert not first_portfolio.is_attached
        await log_in(pilot)
        assert isinstance(app.screen, PortfolioScreen)
        assert app.screen is not first_portfolio


async def test_logout_focuses_password(desk_market: Market) -> None:
    app = desk_on(desk_market)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press("ctrl+l")
        await settle(pilot)
        await pilot.press("ctrl+r", *"newbie", "enter", *"newbie@example.com", "enter",
                          *PASSWORD, "enter")
        await settle(pilot)
        assert app.username == "newbie"
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen)
        assert app.screen.query_one("#login-username", Field).value == "newbie"
        assert app.focused is app.screen.query_one("#login-password", Field)
        await pilot.press(*PASSWORD, "enter")
        await settle(pilot)
        assert isinstance(app.screen, PortfolioScreen)
        assert app.username == "newbie"


async def test_logout_over_dialog_leaves_login_only(desk_market: Market) -> None:
    app = desk_on(desk_market)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        app.action_logout()
        await settle(pilot)
        assert app.screen_stack == [app.get_screen("login")]
        assert app.errors_shown() == []


async def test_dropped_connection_shows_banner(desk_market: Market) -> None:
    from tests.desk.harness import DroppingBackend, make_app

    backend = DroppingBackend(desk_market)
    app = make_app(lambda: backend)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        backend.dropped = True
        await pilot.press("r")
        await settle(pilot)
        banner = app.screen.query_one("ConnectionBanner")
        assert banner.has_class("-shown")
        assert "cannot reach server" in str(banner.render())
        assert isinstance(app.screen, PortfolioScreen)
        assert app.errors_shown() == []

        backend.dropped = False
        app._retry_connection()
        await settle(pilot)
        assert not banner.has_class("-shown")
        assert ("information", "Market", "Connection restored.") in app.notices


async def test_refresh_key_retries_at_once(desk_market: Market) -> None:
    from tests.desk.harness import DroppingBackend, make_app

    backend = DroppingBackend(desk_market)
    app = make_app(lambda: backend)  # the automatic retry waits an hour
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        backend.dropped = True
        await pilot.press("r")
        await settle(pilot)
        banner = app.screen.query_one("ConnectionBanner")
        assert banner.has_class("-shown")

        backend.dropped = False
        await pilot.press("r")
        await settle(pilot)
        assert not banner.has_class("-shown")
        assert ("information", "Market", "Connection restored.") in app.notices


async def test_refresh_keeps_cursor_on_offer(book: Market) -> None:
    from desk.backend import LocalBackend

    app = desk_on(book)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press("2")
        await settle(pilot)
        table = app.screen.query_one(KeyedTable)
        [first, second, third] = table.keys
        await pilot.press("down", "down")
        assert table.selected_key == third

        alice = LocalBackend(book)
        alice.login(ALICE, PASSWORD)
        alice.cancel_offer(first)
        newest = alice.create_offer("Cohere", "OpenAI", "5", "2").id
        await pilot.press("r")
        await settle(pilot)
        assert table.keys == [second, third, newest]
        assert table.selected_key == third
        assert table.cursor_row == 1


async def test_pages_through_book(desk_market: Market) -> None:
    from desk.backend import LocalBackend
    from desk.screens.trades import PAGE_SIZE

    maker = LocalBackend(desk_market)
    maker.register("maker", "maker@example.com", PASSWORD)
    maker.login("maker", PASSWORD)
    ids = [maker.create_offer("OpenAI", "Anthropic", "1", "1.1").id
           for _ in range(PAGE_SIZE + 20)]

    app = desk_on(desk_market)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press("2")
        await settle(pilot)
        screen = app.screen
        table = screen.query_one(KeyedTable)
        assert table.keys == ids[:PAGE_SIZE]
        assert "] next page" in str(screen.query_one("#page-status").render())

        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert table.keys == ids[PAGE_SIZE:]
        status = str(screen.query_one("#page-status").render())
        assert f"Page 2 · offers {PAGE_SIZE + 1}–{PAGE_SIZE + 20}" in status

        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert ("information", "Open trades", "This is the last page.") in app.notices

        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert table.keys == ids[:PAGE_SIZE]


async def test_filter_by_pair(book: Market) -> None:
    app = desk_on(book)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press("2")
        await settle(pilot)
        screen = app.screen
        screen.query_one("#filter-from").value = "Google"
        await settle(pilot)
        table = screen.query_one(KeyedTable)
        assert [table.cell_text(key, "pair") for key in table.keys] == ["Google→BTC"]
        screen.query_one("#filter-to").value = "Anthropic"
        await settle(pilot)
        assert table.row_count == 0
        assert screen.query_one("#offers-view").has_class("-empty")
