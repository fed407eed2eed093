"""The load benchmark's machinery, on a small run: it measures, and it audits afterwards."""

from __future__ import annotations

import pytest

from bench import load


@pytest.mark.slow
def test_small_load_run() -> None:
    report = load.measure(traders=4, seconds=1.0)
    results = {row["name"]: row for row in report.results()}

    assert report.requests > 0
    assert report.audit.status == 0, report.audit.output
    assert results["5xx responses"]["value"] == 0
    assert results["desk audit afterwards: failed checks"]["value"] == 0
    assert results["requests per second, 4 traders"]["value"] > 0
    assert results["latency p50"]["value"] <= results["latency p99"]["value"]
    assert all({"name", "value", "unit", "baseline", "ratio"} <= row.keys()
               for row in results.values())
    assert "all errors by kind" in results["other errors"]["note"]
    assert report.server_problems == []
