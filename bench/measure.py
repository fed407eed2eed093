"""Repeated measurements and their summary: the median and the spread between runs."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    """The median of repeated runs of one measurement, with the lowest and highest run."""

    median: float
    low: float
    high: float
    runs: int

    def spread(self, fmt: Callable[[float], str]) -> str:
        """Describe the spread as the range of the runs, written with ``fmt``."""
        return f"{fmt(self.low)}–{fmt(self.high)} over {self.runs} runs"


def summarize(values: Sequence[float]) -> Summary:
    if not values:
        raise ValueError("no runs to summarize")
    return Summary(statistics.median(values), min(values), max(values), len(values))


def time_calls(call: Callable[[], object], count: int) -> float:
    """Call ``call`` ``count`` times and return the mean seconds per call.

    A garbage collection runs first, so that one run does not pay for the garbage of the last.
    """
    gc.collect()
    start = time.perf_counter()
    for _ in range(count):
        call()
    return (time.perf_counter() - start) / count


def microseconds(seconds: float) -> float:
    return seconds * 1e6
