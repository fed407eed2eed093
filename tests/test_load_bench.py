"""The load benchmark's machinery, on a small run: it measures, and it audits afterwards."""

from __future__ import annotations

import pytest

from bench import load
from bench.report import as_result


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


@pytest.mark.slow
def test_load_run_reports_idle_memory() -> None:
    report = load.measure(traders=2, seconds=0.5)
    memory = next(row for row in report.results() if row["name"] == "server peak resident memory")

    assert report.idle_rss_mib is not None
    assert report.peak_rss_mib is not None
    assert 0 < report.idle_rss_mib <= report.peak_rss_mib
    assert memory["baseline_value"] == round(report.idle_rss_mib, 1)
    assert memory["baseline_name"] == "idle server"
    assert as_result(memory).baseline_value == memory["baseline_value"]
