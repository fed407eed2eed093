"""How the cost of a page grows with the market: the book, a trader's history and ledger.

For each size a synthetic market (``bench.synthetic``) is built in a temporary folder and
opened through ``Market``. Each page is then read repeatedly through the market's own
methods, at every size in turn, and its cost is compared with the cost of the same page on
the smallest market. With indexes and cursor pagination a page costs about the same
however many rows there are. The goal is at most twice the cost on the smallest market.

The pages compared hold the same number of rows at every size: the filters and the focus
trader were chosen so that even the smallest market fills a 50-row page, except the book
filtered by from_token=BTC, which no synthetic offer sells, so that page is always empty.
"""

from __future__ import annotations

import gc
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import synthetic
from bench.measure import Summary, microseconds, summarize, time_calls
from bench.report import Result, format_number
from desk.backend import Market
from desk.backend.audit import audit
from desk.backend.pagination import DEFAULT_LIMIT, encode_cursor
from desk.backend.store import Database

TITLE = "Growth: the cost of one page as the market grows"
GOAL_RATIO = 2.0
# Markets up to this many trades are audited after they are built. The audit reads every
# ledger row into Python, which would take minutes at a million trades.
MAX_AUDITED_TRADES = 100_000
WARM_UP_CALLS = 10


@dataclass(frozen=True)
class Plan:
    """The market sizes in trades, and how many runs of how many calls measure each page."""

    sizes: tuple[int, ...]
    runs: int
    calls_per_run: int


def plan_for(quick: bool) -> Plan:
    if quick:
        return Plan(sizes=(1_000, 20_000), runs=5, calls_per_run=10)
    return Plan(sizes=(1_000, 100_000, 1_000_000), runs=7, calls_per_run=30)


def shape(trades: int) -> synthetic.Shape:
    """Return the make-up of a market of ``trades`` trades.

    The focus trader takes part in about 15% of the trades, so that even 1,000 trades fill
    the pages of its offers, history and ledger.
    """
    return synthetic.Shape(trades, traders=1000, active=0.5, completed=0.4, focus_share=0.15)


def pages(market: Market, built: synthetic.SyntheticMarket) -> dict[str, Callable[[], object]]:
    """Return each page to measure, as a call on ``market`` for the focus trader."""
    focus = built.focus
    # A page deep in the history: halfway down, but far enough from the end to be full.
    history_depth = max(0, min(len(built.focus_closed) // 2,
                               len(built.focus_closed) - DEFAULT_LIMIT - 1))
    ledger_depth = max(0, min(len(built.focus_ledger) // 2,
                              len(built.focus_ledger) - DEFAULT_LIMIT - 1))
    history_cursor = encode_cursor(*built.history_key_at(history_depth))
    ledger_cursor = encode_cursor(built.ledger_id_at(ledger_depth))
    return {
        "book, first page": lambda: market.list_offers(focus),
        "book, first page of OpenAI→Anthropic": lambda: market.list_offers(
            focus, "OpenAI", "Anthropic"),
        "book, first page selling Google": lambda: market.list_offers(focus, "Google"),
        "book, first page buying Cohere": lambda: market.list_offers(focus, None, "Cohere"),
        "book, first page selling BTC (none on offer)": lambda: market.list_offers(focus, "BTC"),
        "book, first page of my offers": lambda: market.list_offers(focus, mine=True),
        "history, first page": lambda: market.history(focus),
        "history, a page halfway down": lambda: market.history(focus, cursor=history_cursor),
        "ledger, first page": lambda: market.ledger(focus),
        "ledger, a page halfway down": lambda: market.ledger(focus, cursor=ledger_cursor),
    }


@dataclass
class Sized:
    """A built market of one size, open through ``Market``, and its pages."""

    trades: int
    built: synthetic.SyntheticMarket
    market: Market
    calls: dict[str, Callable[[], object]]


def open_size(folder: Path, trades: int) -> Sized:
    """Build a market of ``trades`` trades, audit it if it is small, and open it."""
    built = synthetic.build(folder / f"market-{trades}.db", shape(trades))
    database = Database(built.url)
    if trades <= MAX_AUDITED_TRADES:
        failed = [check for check in audit(database) if not check.passed]
        if failed:
            raise AssertionError(f"synthetic market of {trades} trades fails its audit: "
                                 + "; ".join(f"{c.name}: {c.problems[:3]}" for c in failed))
    market = Market(database, synthetic.market_config())
    return Sized(trades, built, market, pages(market, built))


def measure(sized: list[Sized], plan: Plan) -> dict[int, dict[str, Summary]]:
    """Return the cost in microseconds of each page at each size.

    Runs go round every size and page in turn, so that a change in the machine's load during
    the measurement falls on all of them alike.
    """
    for market in sized:
        for call in market.calls.values():
            for _ in range(WARM_UP_CALLS):
                call()
    samples: dict[int, dict[str, list[float]]] = {
        market.trades: {name: [] for name in market.calls} for market in sized}
    # Building left many objects alive. Frozen, they cannot make a collection during a run
    # slower at one size than at another.
    gc.collect()
    gc.freeze()
    try:
        for _ in range(plan.runs):
            for market in sized:
                for name, call in market.calls.items():
                    seconds = time_calls(call, plan.calls_per_run)
                    samples[market.trades][name].append(microseconds(seconds))
    finally:
        gc.unfreeze()
    return {trades: {name: summarize(values) for name, values in pages.items()}
            for trades, pages in samples.items()}


def run(quick: bool) -> list[Result]:
    plan = plan_for(quick)
    with tempfile.TemporaryDirectory(prefix="bench-growth-") as folder:
        sized = []
        try:
            for size in plan.sizes:
                sized.append(open_size(Path(folder), size))
            costs = measure(sized, plan)
        finally:
            for market in sized:
                market.market.close()

    smallest = plan.sizes[0]
    results = []
    for name, base in costs[smallest].items():
        for size in plan.sizes[1:]:
            cost = costs[size][name]
            ratio = cost.median / base.median
            results.append(Result(
                name=f"{name}, {size:,} trades",
                value=cost.median,
                unit="µs",
                baseline_name=f"{smallest:,} trades",
                baseline_value=base.median,
                ratio=ratio,
                goal=f"ratio ≤ {GOAL_RATIO:g}",
                met=ratio <= GOAL_RATIO,
                spread=cost.spread(format_number),
                note=f"{'an empty page' if 'none on offer' in name else '50 rows'}, "
                     f"{plan.calls_per_run} calls per run",
            ))
    return results
