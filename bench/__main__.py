"""Run every benchmark, print a table per benchmark and update docs/benchmarks.md.

    python -m bench            # the full run, about 10 minutes on 2 cores; writes the page
    python -m bench --quick    # a small run for CI, about 2 minutes; writes nothing
    python -m bench --quick --only execute --only growth

A benchmark is a module in ``BENCHMARKS`` with a function ``run(quick: bool)`` that returns a
list of ``bench.report.Result`` or of dicts with the keys name, value, unit, baseline and
ratio. It may set ``TITLE``, the heading of its block on the page. A module that is not
there is skipped with a note; a module that fails makes the command exit with status 1 after
the others have run.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import shlex
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

from bench.report import (
    Result,
    as_result,
    read_machine,
    render_console,
    render_section,
    update_page,
)

BENCHMARKS = [
    "bench.execute",
    "bench.growth",
    "bench.memory",
    "bench.desk_startup",
    "bench.desk_offers",
    "bench.desk_memory",
    "bench.desk_ticks",
    "bench.ws_fanout",
    "bench.load",
    "bench.http",
]

PAGE = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def short_name(module_name: str) -> str:
    return module_name.rpartition(".")[2]


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and few runs, for CI; leaves the page alone unless "
                             "--write is given")
    parser.add_argument("--write", action=argparse.BooleanOptionalAction, default=None,
                        help=f"update {PAGE.relative_to(PAGE.parent.parent)} with the results "
                             "(default: yes for a full run, no for --quick)")
    parser.add_argument("--only", action="append", metavar="NAME",
                        choices=[short_name(name) for name in BENCHMARKS],
                        help="run only this benchmark; repeat for several "
                             f"({', '.join(short_name(name) for name in BENCHMARKS)})")
    return parser.parse_args(argv)


def load(module_name: str) -> ModuleType | None:
    """Import a benchmark module, or return None if its file is not there."""
    if importlib.util.find_spec(module_name) is None:
        return None
    return importlib.import_module(module_name)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    write = arguments.write if arguments.write is not None else not arguments.quick
    command = shlex.join(["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)])
    selected = [name for name in BENCHMARKS
                if not arguments.only or short_name(name) in arguments.only]

    machine = read_machine()
    print(f"Machine: {machine.describe()}\n")
    sections: dict[str, str] = {}
    failed: list[str] = []
    for module_name in selected:
        try:
            module = load(module_name)
        except Exception:
            failed.append(module_name)
            print(f"{module_name}: failed to import\n{traceback.format_exc()}", file=sys.stderr)
            continue
        if module is None:
            print(f"{module_name}: skipped, the module is not there\n")
            continue
        title = getattr(module, "TITLE", short_name(module_name))
        started = datetime.now(UTC)
        clock = time.perf_counter()
        try:
            results: list[Result] = [as_result(item) for item in module.run(arguments.quick)]
        except Exception:
            failed.append(module_name)
            print(f"{module_name}: failed\n{traceback.format_exc()}", file=sys.stderr)
            continue
        print(render_console(title, results))
        print(f"({time.perf_counter() - clock:.0f} s)\n")
        sections[short_name(module_name)] = render_section(
            short_name(module_name), title, results, machine, command, started)

    if write and sections:
        update_page(PAGE, sections)
        print(f"Updated {PAGE}")
    if failed:
        print(f"Failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
