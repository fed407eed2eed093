"""Below the minimum terminal size, dialogs and the chart show the TooSmall note, not a blank."""

from __future__ import annotations

import pytest

from desk.backend import Market
from desk.widgets.too_small import TooSmall
from tests.desk.harness import desk_on, log_in, settle

TOO_SMALL = (40, 10)


@pytest.mark.parametrize(("section", "key"), [("2", "n"), ("3", "c"), ("3", "enter"),
                                              ("1", "question_mark")])
async def test_screen_over_section_says_too_small(desk_market: Market, section: str,
                                                  key: str) -> None:
    app = desk_on(desk_market)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press(section)
        await settle(pilot)
        await pilot.press(key)
        await settle(pilot)
        opened = app.screen
        await pilot.resize_terminal(*TOO_SMALL)
        await settle(pilot)
        assert app.screen is opened
        note = opened.query_one(TooSmall)
        assert note.display
        assert "the desk needs at least" in str(note.render())
        displayed = [child for child in opened.children if child.display]
        assert displayed == [note]
