"""Concurrent HTTP clients for the HTTP benchmark: threads, each with its own ``httpx.Client``.

Each thread holds one keep-alive connection and sends one request after another. Threads were
chosen over asyncio because of what they measured against the bare app of ``bench.bare_http``
on this 2-core machine, 32 clients at a time: one ``httpx.AsyncClient`` with a pool of 32
connections reached about 200 requests per second, 32 separate ``AsyncClient`` objects about
1,000, and 32 threads with an ``httpx.Client`` each about 1,350, using 0.6 of a core. httpx
0.29's shared async pool costs more per request the more connections it holds (a known
problem, encode/httpx issue 3215), so it would have measured the client, not the server.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

REQUEST_TIMEOUT_SECONDS = 30.0

SendRequest = Callable[[httpx.Client, int, int], httpx.Response]
"""``send(client, index, slot)`` sends request number ``index`` from client number ``slot``."""


@dataclass(frozen=True)
class Run:
    """One timed run: every request's latency in seconds, the wall time and the client
    process's CPU time over the same interval."""

    latencies: list[float]
    elapsed: float
    client_cpu: float
    # The server process's CPU time over the run, when the caller measured it.
    server_cpu: float | None = None

    @property
    def requests_per_second(self) -> float:
        return len(self.latencies) / self.elapsed

    def percentile_ms(self, fraction: float) -> float:
        return percentile(self.latencies, fraction) * 1000

    @property
    def server_cpu_per_request_us(self) -> float:
        if self.server_cpu is None:
            raise ValueError("the server's CPU time was not measured in this run")
        return self.server_cpu / len(self.latencies) * 1e6

    @property
    def client_cpu_share(self) -> float:
        """The client's CPU time over the wall time: 1.0 is one core kept busy."""
        return self.client_cpu / self.elapsed


def percentile(values: Sequence[float], fraction: float) -> float:
    """Return the nearest-rank percentile: the smallest value with at least ``fraction`` of
    the values at or below it."""
    if not values:
        raise ValueError("no values to take a percentile of")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


class RequestFailed(RuntimeError):
    """A request of a run got no success (2xx) response."""


def drive(base_url: str, requests: int, send: SendRequest, clients: int,
          warm_up_path: str = "/api/health") -> Run:
    """Send ``requests`` requests from ``clients`` threads, each with its own connection.

    Each thread first opens its connection with one GET of ``warm_up_path``, untimed. The
    clock starts when every thread is connected. Raises ``RequestFailed`` if any response is
    not a success, because a failing server would look fast, or if a request fails in transit.
    """
    lock = threading.Lock()
    indexes = iter(range(requests))
    latencies: list[list[float]] = [[] for _ in range(clients)]
    statuses: Counter[int] = Counter()
    errors: list[BaseException] = []
    ready = threading.Barrier(clients + 1)

    def next_index() -> int | None:
        with lock:
            return next(indexes, None)

    def client_thread(slot: int) -> None:
        with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT_SECONDS) as client:
            try:
                client.get(warm_up_path).raise_for_status()
            except httpx.HTTPError as error:
                errors.append(error)
                ready.abort()
                return
            try:
                ready.wait()
            except threading.BrokenBarrierError:
                return  # another client failed to connect, and reported it
            try:
                while (index := next_index()) is not None:
                    started = time.perf_counter()
                    response = send(client, index, slot)
                    latencies[slot].append(time.perf_counter() - started)
                    with lock:
                        statuses[response.status_code] += 1
            except httpx.HTTPError as error:
                errors.append(error)

    threads = [threading.Thread(target=client_thread, args=(slot,), name=f"client-{slot}")
               for slot in range(clients)]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        ready.wait()  # broken when a client failed to connect; it is reported below
    cpu_started = time.process_time()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    client_cpu = time.process_time() - cpu_started

    if errors:
        raise RequestFailed(f"{len(errors)} clients failed in transit; the first: "
                            f"{type(errors[0]).__name__}: {errors[0]}")
    failed = {status: count for status, count in statuses.items() if not 200 <= status < 300}
    if failed:
        raise RequestFailed(f"failed responses by status: {failed}")
    return Run([latency for own in latencies for latency in own], elapsed, client_cpu)
