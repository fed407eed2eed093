"""Peak resident memory of the desk showing open trades from a book of 10,000 offers.

Each measurement is a fresh child process, which reports its peak resident set size (``VmHWM``
in /proc/self/status) at the end, imports included. The desk child opens the market on a
SQLite file holding 10,000 active offers, built as in ``bench.desk_offers``. It runs the desk
headless at 80×24, logs in, switches to the open-trades screen, waits for its first page and
turns two more pages. The baseline child runs a bare Textual app, headless at the same size,
that shows one ``DataTable`` with one page of the same rows, read from a JSON file. The two
kinds alternate.

    python -m bench.desk_memory            # 3 children of each kind
    python -m bench.desk_memory --quick    # 2 of each
    python -m bench.desk_memory child desk|bare FOLDER
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.measure import summarize
from bench.memory import peak_kib
from bench.report import Result, format_number

TITLE = "Memory: the desk with 10,000 offers on the open-trades screen"
ROOT = Path(__file__).resolve().parent.parent
OFFERS = 10_000
PAGES_TURNED = 2
CHILD_TIMEOUT_SECONDS = 300


def prepare(folder: Path, offers: int = OFFERS) -> None:
    """Build the book in ``folder`` and write the cells of its first page beside it."""
    from bench.desk_offers import build_market, page_cells

    market = build_market(folder, offers)
    try:
        cells = page_cells(market)
    finally:
        market.close()
    (folder / "page.json").write_text(json.dumps(cells), encoding="utf-8")


def run(quick: bool) -> list[Result]:
    runs = 2 if quick else 3
    peaks: dict[str, list[float]] = {"desk": [], "bare": []}
    with tempfile.TemporaryDirectory(prefix="bench-desk-memory-") as name:
        folder = Path(name)
        prepare(folder)
        for index in range(runs):
            kinds = ["desk", "bare"] if index % 2 == 0 else ["bare", "desk"]
            for kind in kinds:
                peaks[kind].append(child_peak_mib(kind, folder))

    desk, bare = summarize(peaks["desk"]), summarize(peaks["bare"])
    return [
        Result(
            name=f"peak RSS, desk on open trades, {OFFERS:,} offers in the book",
            value=desk.median,
            unit="MiB",
            baseline_name="bare Textual app with a DataTable of one page",
            baseline_value=bare.median,
            ratio=desk.median / bare.median,
            spread=f"{desk.spread(format_number)}; baseline {bare.spread(format_number)}",
            note=f"no goal set; headless at 80×24, a fresh process per run, imports included; "
                 f"the desk turned {PAGES_TURNED} pages after the first",
        ),
    ]


def child_peak_mib(kind: str, folder: Path) -> float:
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith("DESK_")}
    environment.update({"DESK_DATA_DIR": str(folder / "data"), "DESK_BCRYPT_ROUNDS": "4"})
    completed = subprocess.run(
        [sys.executable, "-m", "bench.desk_memory", "child", kind, str(folder)],
        cwd=ROOT, env=environment, capture_output=True, text=True, check=False,
        timeout=CHILD_TIMEOUT_SECONDS,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"desk memory child {kind} failed:\n{completed.stderr}")
    return float(json.loads(completed.stdout.strip().splitlines()[-1])["peak_kib"]) / 1024


async def show_desk(folder: Path) -> None:
    """Log in on the headless desk, open the trades screen and turn pages."""
    from bench.desk_offers import wait_until
    from desk.app import DeskApp
    from desk.backend import LocalBackend, Market, MarketConfig
    from desk.screens.trades import PAGE_SIZE, OffersTable

    market = Market.open(f"sqlite:///{folder / 'book.db'}",
                         MarketConfig(secret_key="bench-signing-key-" + "x" * 32,
                                      bcrypt_rounds=4), create=False)
    app = DeskApp(lambda: LocalBackend(market), price_interval=3600.0, cursor_blink=False)
    app.animation_level = "none"
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            screen: Any = app.screen
            screen.query_one("#login-username").value = "demo"
            screen.query_one("#login-password").value = "demo123"
            screen.query_one("#login-password").focus()
            await pilot.press("enter")
            await wait_until(lambda: app.username == "demo")
            await app.workers.wait_for_complete()
            await pilot.pause()

            app.action_section("trades")
            await wait_until(lambda: bool(app.screen.query(OffersTable))
                             and app.screen.query_one(OffersTable).row_count == PAGE_SIZE)
            for _ in range(PAGES_TURNED):
                await pilot.press("right_square_bracket")
                await app.workers.wait_for_complete()
                await pilot.pause()
            trades_screen: Any = app.screen
            if trades_screen.page_number != PAGES_TURNED + 1:
                raise RuntimeError(f"expected page {PAGES_TURNED + 1}, the desk shows page "
                                   f"{trades_screen.page_number}")
    finally:
        market.close()


async def show_bare(folder: Path) -> None:
    """Show one page of rows in a bare Textual app's DataTable."""
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    from bench.desk_offers import wait_until

    cells = json.loads((folder / "page.json").read_text(encoding="utf-8"))

    class TableApp(App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable(cursor_type="row")

        def on_mount(self) -> None:
            table = self.query_one(DataTable)
            table.add_columns("ID", "Pair", "Amount", "Rate", "Taker pays", "Creator", "Age")
            table.add_rows(cells)

    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(lambda: app.query_one(DataTable).row_count == len(cells))
        await pilot.pause()


def child(kind: str, folder: Path) -> None:
    """Run one kind of child, then print its peak resident set size as JSON."""
    if kind == "desk":
        asyncio.run(show_desk(folder))
    elif kind == "bare":
        asyncio.run(show_bare(folder))
    else:
        raise SystemExit(f"unknown kind {kind!r}; expected desk or bare")
    print(json.dumps({"peak_kib": peak_kib()}))


def main(argv: list[str] | None = None) -> None:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["child"]:
        if len(arguments) != 3:
            raise SystemExit(__doc__)
        child(arguments[1], Path(arguments[2]))
        return
    parser = argparse.ArgumentParser(prog="python -m bench.desk_memory",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 children of each kind, not 3")
    for result in run(parser.parse_args(arguments).quick):
        print(f"{result.name}: {format_number(result.value)} {result.unit}; "
              f"{result.baseline_name}: {format_number(result.baseline_value)} {result.unit}; "
              f"ratio {result.ratio:.2f} ({result.spread})")


if __name__ == "__main__":
    main()
