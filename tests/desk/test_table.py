"""The keyed table that every list of the desk refreshes in place."""

from __future__ import annotations

from textual.app import App, ComposeResult

from desk.widgets.table import KeyedTable


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield KeyedTable([("asset", "Asset"), ("value", "Value")], id="table")


async def test_wider_value_widens_column() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(KeyedTable)
        table.show_rows([("OpenAI", ["OpenAI", "—"])])
        await pilot.pause()
        narrow = table.columns["value"].get_render_width(table)

        table.show_rows([("OpenAI", ["OpenAI", "0.01015228"])])
        await pilot.pause()

        assert table.cell_text("OpenAI", "value") == "0.01015228"
        assert table.columns["value"].get_render_width(table) > narrow
        assert table.columns["value"].get_render_width(table) >= len(" 0.01015228")


async def test_refresh_keeps_cursor_row() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(KeyedTable)
        table.show_rows([(n, [f"row {n}", str(n)]) for n in range(5)])
        await pilot.pause()
        table.move_cursor(row=3)
        table.show_rows([(n, [f"row {n}", str(n * 10)]) for n in range(1, 6)])
        await pilot.pause()
        assert table.selected_key == 3
        assert table.keys == [1, 2, 3, 4, 5]
