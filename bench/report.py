"""Benchmark results: their common shape, the console table and the Markdown page.

Each benchmark module returns a list of ``Result``, or of dicts with at least the keys
``name``, ``value``, ``unit``, ``baseline`` and ``ratio`` (``baseline`` is either the
baseline's name or its value). ``as_result`` turns both into ``Result``.

The page docs/benchmarks.md keeps one block per benchmark module between two HTML comments,
``<!-- bench:begin NAME -->`` and ``<!-- bench:end NAME -->``. A run rewrites only the blocks
of the modules it ran, so hand-written text and other modules' figures stay as they are. A
module's first block goes before the comment ``<!-- bench:new-blocks -->``, or at the end of
the page if that comment is missing.
"""

from __future__ import annotations

import os
import platform
import re
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Result:
    """One measured figure and, where it has one, the baseline measured in the same run."""

    name: str
    value: float
    unit: str
    baseline_name: str = ""
    baseline_value: float | None = None
    # value / baseline_value, or whatever comparison the benchmark states in its note.
    ratio: float | None = None
    # The target as people read it, such as "ratio ≥ 0.25", or empty when there is none.
    goal: str = ""
    # Whether the goal was met, or None when there is no goal or the benchmark cannot tell.
    met: bool | None = None
    # The range between the runs behind the median, such as "812–901 over 7 runs".
    spread: str = ""
    note: str = ""


_RESULT_FIELDS = {field.name for field in fields(Result)}


def as_result(item: Result | Mapping[str, Any]) -> Result:
    """Return ``item`` as a ``Result``. A dict may carry ``baseline`` as a name or a value."""
    if isinstance(item, Result):
        return item
    values = {key: value for key, value in item.items() if key in _RESULT_FIELDS}
    baseline = item.get("baseline")
    if isinstance(baseline, str):
        values.setdefault("baseline_name", baseline)
    elif isinstance(baseline, int | float):
        values.setdefault("baseline_value", float(baseline))
    missing = {"name", "value", "unit"} - values.keys()
    if missing:
        raise ValueError(f"benchmark result {dict(item)!r} lacks {', '.join(sorted(missing))}")
    return Result(**values)


def format_number(value: float | None) -> str:
    """Write a figure with about three significant digits and thousands separators."""
    if value is None:
        return "—"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def format_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def format_goal(result: Result) -> str:
    if not result.goal:
        return "—"
    if result.met is None:
        return result.goal
    return f"{result.goal}: {'met' if result.met else 'missed'}"


def format_baseline(result: Result) -> str:
    if result.baseline_value is None:
        return result.baseline_name or "—"
    figure = f"{format_number(result.baseline_value)} {result.unit}"
    return f"{result.baseline_name}: {figure}" if result.baseline_name else figure


def _row(result: Result) -> list[str]:
    return [
        result.name,
        f"{format_number(result.value)} {result.unit}",
        result.spread or "—",
        format_baseline(result),
        format_ratio(result.ratio),
        format_goal(result),
        result.note or "—",
    ]


HEADERS = ["measured", "median", "spread", "baseline (same run)", "ratio", "goal", "note"]


def render_console(title: str, results: Sequence[Result]) -> str:
    """Return an aligned plain-text table, without the note column to keep lines short."""
    headers = HEADERS[:-1]
    rows = [_row(result)[:-1] for result in results]
    widths = [max(len(line[i]) for line in [headers, *rows]) for i in range(len(headers))]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown_table(results: Sequence[Result]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + " --- |" * len(HEADERS)]
    for result in results:
        lines.append("| " + " | ".join(_cell(cell) for cell in _row(result)) + " |")
    return "\n".join(lines)


@dataclass(frozen=True)
class Machine:
    """The machine that the figures were measured on."""

    cores: int
    cpu: str
    memory: str
    python: str
    sqlite: str
    sqlalchemy: str
    load: str

    def describe(self) -> str:
        return (
            f"{self.cores} cores available (nproc), {self.cpu}, {self.memory} of memory; "
            f"Python {self.python}, SQLite {self.sqlite}, SQLAlchemy {self.sqlalchemy}; "
            f"load average {self.load} at the start"
        )


def read_machine() -> Machine:
    import sqlalchemy  # here, so that importing this module costs a memory child nothing

    return Machine(
        cores=len(os.sched_getaffinity(0)),
        cpu=_proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown CPU",
        memory=_memory_total(),
        python=f"{platform.python_implementation()} {platform.python_version()}",
        sqlite=sqlite3.sqlite_version,
        sqlalchemy=sqlalchemy.__version__,
        load=" / ".join(f"{value:.2f}" for value in os.getloadavg()),
    )


def _proc_field(path: str, name: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                key, _, value = line.partition(":")
                if key.strip() == name:
                    return value.strip()
    except OSError:
        return None
    return None


def _memory_total() -> str:
    value = _proc_field("/proc/meminfo", "MemTotal")  # "24676536 kB"
    if value is None or not value.endswith("kB"):
        return "unknown"
    return f"{int(value.split()[0]) / 2**20:.1f} GiB"


def render_section(key: str, title: str, results: Sequence[Result], machine: Machine,
                   command: str, when: datetime) -> str:
    """Return the Markdown block of one benchmark module, markers included."""
    lines = [
        f"<!-- bench:begin {key} -->",
        f"## {title}",
        "",
        render_markdown_table(results),
        "",
        f"- Command: `{command}`",
        f"- Date: {when.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {machine.describe()}",
        "- The machine was shared with other engineers' test runs while measuring.",
        f"<!-- bench:end {key} -->",
    ]
    return "\n".join(lines)


NEW_BLOCKS = "<!-- bench:new-blocks -->"
PAGE_HEADER = """# Benchmarks

Written by `python -m bench` (see bench/__main__.py). Every figure is the median of repeated
runs, with the fastest and slowest run as its spread. Every baseline was measured in the same
run as the figure it is compared with, on the same machine. The blocks between the
`bench:begin` and `bench:end` comments are rewritten by each full run; the rest of the page is
written by hand.
"""


def update_page(path: Path, sections: Mapping[str, str]) -> None:
    """Replace each module's block in the page at ``path``, or append it if it is new."""
    text = path.read_text(encoding="utf-8") if path.exists() else PAGE_HEADER
    for key, section in sections.items():
        pattern = re.compile(
            rf"<!-- bench:begin {re.escape(key)} -->.*?<!-- bench:end {re.escape(key)} -->",
            re.DOTALL,
        )
        if pattern.search(text):
            text = pattern.sub(lambda _match, s=section: s, text, count=1)
        elif NEW_BLOCKS in text:
            text = text.replace(NEW_BLOCKS, f"{section}\n\n{NEW_BLOCKS}", 1)
        else:
            text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
