"""The WebSocket fan-out benchmark still runs; its figures are recorded, never asserted."""

from __future__ import annotations

from bench.ws_fanout import measure


def test_fanout_benchmark_runs() -> None:
    samples = measure(clients=3, ticks=2, warmup=1)
    for kind in ("ws", "tcp"):
        assert len(samples[kind].latencies) == 3 * 2, kind
        assert len(samples[kind].last_arrivals) == 2, kind
