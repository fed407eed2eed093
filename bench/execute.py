"""Offers executed per second in-process on SQLite, against plain sqlite3 doing the same work.

Two copies of one synthetic market, every trade an active offer, are opened side by side: one
through ``Market.execute_offer``, one through ``bench.raw_sqlite``. Each run executes the next
batch of offers on both, one transaction per offer, with the same takers. The order of the two
alternates between runs, so that a change in the machine's load falls on both. Both databases
are audited afterwards, which also checks that the floor wrote every balance change and
ledger entry that the market writes.

``python -m bench.execute --profile`` runs the market side once under pyinstrument
(``pip install pyinstrument``) and prints where the time goes. ``--side market|sqlite`` only
executes ``--offers`` offers on one side after the same set-up, for a counting tool such as
``valgrind --tool=callgrind``: the difference between two counts, say of 250 and 50 offers,
divided by 200 is the count per offer, whatever the machine's load.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import raw_sqlite, synthetic
from bench.measure import summarize
from bench.report import Result, format_number
from desk.backend import Market
from desk.backend.audit import audit
from desk.backend.store import Database

TITLE = "Executing offers in-process on SQLite"
GOAL_RATIO = 0.25
WARM_UP_OFFERS = 50


@dataclass(frozen=True)
class Plan:
    """How many runs, and how many offers each run executes on each database."""

    runs: int
    offers_per_run: int


def plan_for(quick: bool) -> Plan:
    return Plan(runs=3, offers_per_run=300) if quick else Plan(runs=7, offers_per_run=2000)


@dataclass
class Pair:
    """The two copies of one market: the market's own stack, and plain sqlite3."""

    market: Market
    raw: raw_sqlite.sqlite3.Connection
    market_path: Path
    raw_path: Path
    # (trade id, taker id) in execution order. Both sides execute the same list.
    orders: list[tuple[int, int]]

    def close(self) -> None:
        self.market.close()
        self.raw.close()


def open_pair(folder: Path, offers: int, seed: int = 8) -> Pair:
    """Build a market with ``offers`` active offers and open two copies of it."""
    shape = synthetic.Shape(trades=offers, traders=200, active=1.0, completed=0.0,
                            focus_share=0.0, seed=seed)
    built = synthetic.build(folder / "template.db", shape, record_offers=True)
    rng = random.Random(seed)
    orders = []
    for trade_id, creator in built.active_offers:
        taker = rng.choice(built.traders)
        while taker == creator:
            taker = rng.choice(built.traders)
        orders.append((trade_id, taker))
    market_path, raw_path = folder / "market.db", folder / "sqlite.db"
    shutil.copyfile(built.path, market_path)
    shutil.copyfile(built.path, raw_path)
    market = Market(Database(f"sqlite:///{market_path}"), synthetic.market_config())
    return Pair(market, raw_sqlite.connect(str(raw_path)), market_path, raw_path, orders)


def market_batch(pair: Pair, orders: list[tuple[int, int]]) -> Callable[[], None]:
    def execute() -> None:
        for trade_id, taker in orders:
            pair.market.execute_offer(taker, trade_id)
    return execute


def raw_batch(pair: Pair, orders: list[tuple[int, int]]) -> Callable[[], None]:
    def execute() -> None:
        for trade_id, taker in orders:
            raw_sqlite.execute_offer(pair.raw, taker, trade_id)
    return execute


@dataclass
class Samples:
    """Per run: offers executed per second of wall time, and CPU microseconds per offer."""

    rates: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def measure(self, batch: Callable[[], None], count: int) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        batch()
        self.cpu.append((time.process_time() - cpu) / count * 1e6)
        self.rates.append(count / (time.perf_counter() - wall))


def check_audits(pair: Pair) -> None:
    """Raise if either database breaks a market invariant after the runs."""
    for path in (pair.market_path, pair.raw_path):
        database = Database(f"sqlite:///{path}")
        try:
            failed = [check for check in audit(database) if not check.passed]
        finally:
            database.dispose()
        if failed:
            details = "; ".join(f"{check.name}: {check.problems[:3]}" for check in failed)
            raise AssertionError(f"audit of {path.name} failed after the benchmark: {details}")


def run(quick: bool) -> list[Result]:
    plan = plan_for(quick)
    with tempfile.TemporaryDirectory(prefix="bench-execute-") as folder:
        pair = open_pair(Path(folder), WARM_UP_OFFERS + plan.runs * plan.offers_per_run)
        try:
            warm_up = pair.orders[:WARM_UP_OFFERS]
            market_batch(pair, warm_up)()
            raw_batch(pair, warm_up)()
            market_samples, raw_samples = Samples(), Samples()
            for index in range(plan.runs):
                start = WARM_UP_OFFERS + index * plan.offers_per_run
                orders = pair.orders[start:start + plan.offers_per_run]
                sides = [(market_batch(pair, orders), market_samples),
                         (raw_batch(pair, orders), raw_samples)]
                if index % 2:
                    sides.reverse()
                for batch, samples in sides:
                    samples.measure(batch, len(orders))
        finally:
            pair.close()
        check_audits(pair)

    market, floor = summarize(market_samples.rates), summarize(raw_samples.rates)
    ratio = market.median / floor.median
    market_cpu, floor_cpu = summarize(market_samples.cpu), summarize(raw_samples.cpu)
    cpu_ratio = market_cpu.median / floor_cpu.median
    return [
        Result(
            name="offers executed per second, Market.execute_offer",
            value=market.median,
            unit="offers/s",
            baseline_name="plain sqlite3, same statements",
            baseline_value=floor.median,
            ratio=ratio,
            goal=f"ratio ≥ {GOAL_RATIO}",
            met=ratio >= GOAL_RATIO,
            spread=f"{market.spread(format_number)}; floor {floor.spread(format_number)}",
            note=(f"{plan.offers_per_run:,} offers per run, one transaction each, one thread. "
                  "WAL and synchronous=NORMAL on both. Both databases audited clean afterwards."),
        ),
        Result(
            name="CPU time per offer, Market.execute_offer",
            value=market_cpu.median,
            unit="µs",
            baseline_name="plain sqlite3, same statements",
            baseline_value=floor_cpu.median,
            ratio=cpu_ratio,
            goal=f"ratio ≤ {1 / GOAL_RATIO:g}",
            met=cpu_ratio <= 1 / GOAL_RATIO,
            spread=(f"{market_cpu.spread(format_number)}; "
                    f"floor {floor_cpu.spread(format_number)}"),
            note=("The same runs in process CPU time, which other processes on a shared "
                  "machine disturb less than wall time. The goal is restated for time."),
        ),
    ]


def profile(offers: int) -> None:
    """Execute ``offers`` offers through the market under pyinstrument and print the profile."""
    from pyinstrument import Profiler

    with tempfile.TemporaryDirectory(prefix="bench-execute-") as folder:
        pair = open_pair(Path(folder), WARM_UP_OFFERS + offers)
        try:
            market_batch(pair, pair.orders[:WARM_UP_OFFERS])()
            profiler = Profiler(interval=0.0002)
            with profiler:
                market_batch(pair, pair.orders[WARM_UP_OFFERS:])()
        finally:
            pair.close()
    print(profiler.output_text(unicode=True, color=False, show_all=False))


def execute_side(side: str, offers: int) -> None:
    """Warm both sides up, then execute ``offers`` offers on ``side`` alone, timing nothing."""
    with tempfile.TemporaryDirectory(prefix="bench-execute-") as folder:
        pair = open_pair(Path(folder), WARM_UP_OFFERS + offers)
        try:
            warm_up = pair.orders[:WARM_UP_OFFERS]
            market_batch(pair, warm_up)()
            raw_batch(pair, warm_up)()
            batch = market_batch if side == "market" else raw_batch
            batch(pair, pair.orders[WARM_UP_OFFERS:])()
        finally:
            pair.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="store_true",
                        help="profile the market side with pyinstrument instead of measuring")
    parser.add_argument("--side", choices=["market", "sqlite"],
                        help="only execute --offers offers on this side, for a counting tool")
    parser.add_argument("--offers", type=int, default=2000,
                        help="offers to execute with --profile or --side (default: 2000)")
    arguments = parser.parse_args()
    if arguments.profile:
        profile(arguments.offers)
    elif arguments.side:
        execute_side(arguments.side, arguments.offers)
    else:
        for result in run(quick=True):
            print(result)


if __name__ == "__main__":
    main()
