"""Peak resident memory of a process that executes offers in-process.

Each measurement is a fresh child process that opens its own copy of a synthetic market and
executes every offer of it, then reports its peak resident set size (``VmHWM`` in
/proc/self/status), which covers the imports as well. ``ru_maxrss`` would not do, because
Linux keeps it across ``execve`` and a child would report its parent's peak. The baseline
child does the same with plain sqlite3 (``bench.raw_sqlite``) and imports nothing of the
desk. The desk's and the server's memory
under load are measured by their own benchmarks.

    python -m bench.memory child market|sqlite DATABASE ORDERS
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.measure import summarize
from bench.report import Result, format_number

TITLE = "Memory: peak resident set size executing offers in-process"
ROOT = Path(__file__).resolve().parent.parent


def offers_for(quick: bool) -> tuple[int, int]:
    """Return how many offers each child executes, and how many children of each kind run."""
    return (500, 3) if quick else (5000, 3)


def run(quick: bool) -> list[Result]:
    from bench import execute

    offers, runs = offers_for(quick)
    peaks: dict[str, list[float]] = {"market": [], "sqlite": []}
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as name:
        folder = Path(name)
        pair = execute.open_pair(folder, offers)
        pair.close()
        orders = folder / "orders.json"
        orders.write_text(json.dumps(pair.orders), encoding="utf-8")
        for index in range(runs):
            for kind in ("market", "sqlite"):
                copy = folder / f"{kind}-{index}.db"
                shutil.copyfile(pair.raw_path, copy)
                peaks[kind].append(_child_peak_mib(kind, copy, orders))
                copy.unlink()

    market, floor = summarize(peaks["market"]), summarize(peaks["sqlite"])
    return [
        Result(
            name=f"peak RSS, Market executing {offers:,} offers",
            value=market.median,
            unit="MiB",
            baseline_name="plain sqlite3 executing the same offers",
            baseline_value=floor.median,
            ratio=market.median / floor.median,
            spread=f"{market.spread(format_number)}; baseline {floor.spread(format_number)}",
            note="no goal set; a fresh process per run, imports included",
        ),
    ]


def _child_peak_mib(kind: str, database: Path, orders: Path) -> float:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.memory", "child", kind, str(database), str(orders)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"memory child {kind} failed:\n{completed.stderr}")
    return float(json.loads(completed.stdout)["peak_kib"]) / 1024


def child(kind: str, database: str, orders_file: str) -> None:
    """Execute every offer of ``orders_file`` on ``database``, then print the peak RSS as JSON."""
    orders = json.loads(Path(orders_file).read_text(encoding="utf-8"))
    if kind == "market":
        from bench.synthetic import market_config
        from desk.backend import Market
        from desk.backend.store import Database

        market = Market(Database(f"sqlite:///{database}"), market_config())
        for trade_id, taker in orders:
            market.execute_offer(taker, trade_id)
        market.close()
    elif kind == "sqlite":
        from bench import raw_sqlite

        connection = raw_sqlite.connect(database)
        for trade_id, taker in orders:
            raw_sqlite.execute_offer(connection, taker, trade_id)
        connection.close()
    else:
        raise SystemExit(f"unknown kind {kind!r}; expected market or sqlite")
    print(json.dumps({"peak_kib": peak_kib()}))


def peak_kib() -> int:
    """Return this process's peak resident set size in KiB, from /proc/self/status."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])  # "VmHWM:    87040 kB"
    raise RuntimeError("/proc/self/status has no VmHWM line; this benchmark needs Linux")


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "child":
        raise SystemExit(__doc__)
    child(*sys.argv[2:])
