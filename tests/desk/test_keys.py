"""Every key of the desk within reach at the documented 80×24: the footer, the list of keys
(``?``) and the command palette."""

from __future__ import annotations

import pytest
from textual.widgets._footer import FooterKey

from desk.backend import Market
from desk.screens.convert import ConvertDialog
from desk.screens.help import HelpScreen, screen_bindings
from desk.screens.portfolio import PortfolioScreen
from tests.desk.harness import desk_on, log_in, settle

SECTIONS = {"1": "PortfolioScreen", "2": "OpenTradesScreen", "3": "MarketScreen",
            "4": "HistoryScreen"}


@pytest.mark.parametrize("key", sorted(SECTIONS))
async def test_footer_fits_80_columns(desk_market: Market, key: str) -> None:
    app = desk_on(desk_market)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot)
        await pilot.press(key)
        await settle(pilot)
        assert type(app.screen).__name__ == SECTIONS[key]
        footer_keys = list(app.screen.query(FooterKey))
        shown = {footer_key.key_display for footer_key in footer_keys}
        assert "?" in shown
        assert "^p" in shown
        for footer_key in footer_keys:
            assert footer_key.region.right <= 80, footer_key.description
        # The keys the footer leaves out are still listed by ``?`` and the palette.
        listed = {entry.action for entry in screen_bindings(app.screen)}
        assert {"reload", "app.logout"} <= listed


async def test_trades_keys_listed(book: Market) -> None:
    app = desk_on(book)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot)
        await pilot.press("2")
        await settle(pilot)
        listed = {entry.action for entry in screen_bindings(app.screen)}
        assert {"page(1)", "page(-1)", "focus_filter", "toggle_mine", "export"} <= listed


async def test_help_descriptions_not_cut(book: Market) -> None:
    app = desk_on(book)
    async with app.run_test(size=(100, 30)) as pilot:
        await log_in(pilot)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        screenshot = app.export_screenshot()
        assert "…" not in screenshot
        assert "filter&#160;to&#160;a&#160;CSV&#160;file" in screenshot


async def test_palette_runs_other_sections_action(book: Market) -> None:
    app = desk_on(book)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*"convert")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConvertDialog)
        assert isinstance(app.screen_stack[-2], PortfolioScreen)


async def test_palette_lists_every_section(book: Market) -> None:
    app = desk_on(book)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot)
        await pilot.press("2")
        await settle(pilot)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for title in ("New offer", "Take", "Export CSV", "Convert (Portfolio)",
                      "Convert (Market)", "Chart (Market)", "Load more (History)",
                      "Export CSV (History)"):
            assert title in titles
        assert len(titles) == len(set(titles))
