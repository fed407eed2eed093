"""Open trades with 10,000 active offers, against a bare DataTable holding one page.

The desk reads the book a page at a time (``PAGE_SIZE`` offers, keyset cursors), so its costs
should match a plain ``DataTable`` of one page whatever the size of the book. Measured in a
headless Textual app at 80×24:

- first rows: wall time from switching to the open-trades screen, the first time, until its
  table contains the first page: building the screen, the worker, the SQLite query, the message
  and the rows. The baseline is a bare app pushing a screen with one ``DataTable`` that adds
  one page of the same rows, already in memory, when mounted.
- reload: wall time from ``r`` on the built screen until the refreshed page is in the table.
  The baseline clears the bare table and adds the page again.
- scrolling: process CPU time per cursor step (the down key), over a whole page, for both
  tables. CPU time leaves out the pilot's idle waits and is less sensitive to other load.
- next page: process CPU time per page turn (the ``]`` key) of the desk, against the bare
  table replacing its rows with another page.

The 10,000 offers are inserted with one SQL statement, and the maker's held balance is set to
cover them; the market's own rules are not exercised by the set-up.

Run: ``python bench/desk_offers.py [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

OFFERS = 10_000
PAGE_FLIPS = 10


def build_market(folder: Path, count: int) -> Any:
    """Return a seeded market on SQLite in ``folder`` with ``count`` active offers."""
    from sqlalchemy import insert, update

    from desk.backend import LocalBackend, Market, MarketConfig
    from desk.backend.models import Balance, Trade

    market = Market.open(f"sqlite:///{folder / 'book.db'}",
                         MarketConfig(secret_key="bench-signing-key-" + "x" * 32,
                                      bcrypt_rounds=4))
    maker = LocalBackend(market)
    user = maker.register("maker", "maker@example.com", "password1")
    amount = 50_000  # 0.05 OpenAI in millionths; 10,000 of them hold 500 of the 1,000 granted
    start = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
    rows = [{"creator_id": user.id, "from_token": "OpenAI", "to_token": "Anthropic",
             "amount": amount, "exchange_rate": Decimal("1.1"), "status": "active",
             "created_at": start + timedelta(seconds=index)} for index in range(count)]
    with market.database.write() as connection:
        connection.execute(insert(Trade), rows)
        connection.execute(update(Balance)
                           .where(Balance.user_id == user.id, Balance.token_type == "OpenAI")
                           .values(held=amount * count))
    return market


async def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("the table did not fill in time")
        await asyncio.sleep(0.001)


async def measure_desk(market: Any) -> dict[str, float]:
    from desk.app import DeskApp
    from desk.backend import LocalBackend
    from desk.screens.trades import PAGE_SIZE, OffersTable

    app = DeskApp(lambda: LocalBackend(market), price_interval=3600.0, cursor_blink=False)
    app.animation_level = "none"
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        screen.query_one("#login-username").value = "demo"
        screen.query_one("#login-password").value = "demo123"
        screen.query_one("#login-password").focus()
        await pilot.press("enter")
        await wait_until(lambda: app.username == "demo")
        await app.workers.wait_for_complete()
        await pilot.pause()

        started = time.perf_counter()
        app.action_section("trades")
        await wait_until(lambda: app.screen.query(OffersTable)
                         and app.screen.query_one(OffersTable).row_count == PAGE_SIZE)
        first_rows = time.perf_counter() - started
        await pilot.pause()

        screen: Any = app.screen
        shown = screen.trades  # the handler of each page replaces this dict
        started = time.perf_counter()
        screen.action_reload()
        await wait_until(lambda: screen.trades is not shown)
        reload = time.perf_counter() - started
        await pilot.pause()

        table = app.screen.query_one(OffersTable)
        cpu = time.process_time()
        for _ in range(PAGE_SIZE - 1):
            await pilot.press("down")
        step = (time.process_time() - cpu) / (PAGE_SIZE - 1)
        assert table.cursor_row == PAGE_SIZE - 1

        cpu = time.process_time()
        for _ in range(PAGE_FLIPS):
            await pilot.press("right_square_bracket")
            await app.workers.wait_for_complete()
            await pilot.pause()
        flip = (time.process_time() - cpu) / PAGE_FLIPS
        assert app.screen.page_number == PAGE_FLIPS + 1  # type: ignore[attr-defined]
    return {"first_rows": first_rows, "reload": reload, "step": step, "flip": flip}


async def measure_bare(cells: list[list[str]]) -> dict[str, float]:
    from textual.app import App, ComposeResult
    from textual.screen import Screen
    from textual.widgets import DataTable

    class TableScreen(Screen[None]):
        def compose(self) -> ComposeResult:
            yield DataTable(cursor_type="row")

        def on_mount(self) -> None:
            table = self.query_one(DataTable)
            table.add_columns("ID", "Pair", "Amount", "Rate", "Taker pays", "Creator", "Age")
            table.add_rows(cells)

    app = App[None]()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        started = time.perf_counter()
        app.push_screen(TableScreen())
        await wait_until(lambda: bool(app.screen.query(DataTable))
                         and app.screen.query_one(DataTable).row_count == len(cells))
        first_rows = time.perf_counter() - started
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        table.focus()

        started = time.perf_counter()
        table.clear()
        table.add_rows(cells)
        reload = time.perf_counter() - started
        await pilot.pause()

        cpu = time.process_time()
        for _ in range(len(cells) - 1):
            await pilot.press("down")
        step = (time.process_time() - cpu) / (len(cells) - 1)

        cpu = time.process_time()
        for _ in range(PAGE_FLIPS):
            table.clear()
            table.add_rows(cells)
            await pilot.pause()
        flip = (time.process_time() - cpu) / PAGE_FLIPS
    return {"first_rows": first_rows, "reload": reload, "step": step, "flip": flip}


def page_cells(market: Any) -> list[list[str]]:
    from desk.backend import LocalBackend
    from desk.screens.trades import PAGE_SIZE

    reader = LocalBackend(market)
    reader.login("demo", "demo123")
    page = reader.list_offers(limit=PAGE_SIZE)
    return [[str(t.id), f"{t.from_token}→{t.to_token}", f"{t.amount:f}",
             f"{t.exchange_rate.normalize():f}", f"{t.amount * t.exchange_rate:f}",
             f"#{t.creator_id}", "1h"] for t in page.trades]


def measure(runs: int, count: int = OFFERS) -> dict[str, list[float]]:
    os.environ.setdefault("DESK_BCRYPT_ROUNDS", "4")
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        market = build_market(Path(folder), count)
        try:
            cells = page_cells(market)
            for _ in range(runs):
                for side, numbers in (("desk", asyncio.run(measure_desk(market))),
                                      ("bare", asyncio.run(measure_bare(cells)))):
                    for key, value in numbers.items():
                        results.setdefault(f"{side}_{key}", []).append(value)
        finally:
            market.close()
    return results


def summarise(results: dict[str, list[float]]) -> list[dict[str, object]]:
    """Turn raw timings into the benchmark runner's rows: medians, baselines and ratios."""
    rows = []
    for key, name in (("first_rows", "open trades, 10,000 offers: first page shown"),
                      ("reload", "open trades, 10,000 offers: page reloaded"),
                      ("step", "open trades, 10,000 offers: CPU per cursor step"),
                      ("flip", "open trades, 10,000 offers: CPU per page turn")):
        desk = statistics.median(results[f"desk_{key}"]) * 1000
        bare = statistics.median(results[f"bare_{key}"]) * 1000
        rows.append({"name": name, "value": round(desk, 3), "unit": "ms",
                     "baseline": round(bare, 3), "ratio": round(desk / bare, 3)})
    return rows


def run(quick: bool) -> list[dict[str, object]]:
    """Measure and return the result in the benchmark runner's shape."""
    return summarise(measure(2 if quick else 5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 runs instead of 5")
    args = parser.parse_args()
    runs = 2 if args.quick else 5
    for row in summarise(measure(runs)):
        print(f"{row['name']}: desk {row['value']} ms, bare DataTable of one page "
              f"{row['baseline']} ms, ratio {row['ratio']}")
    print(f"({runs} runs each, medians; {OFFERS} active offers in the book)")


if __name__ == "__main__":
    main()
