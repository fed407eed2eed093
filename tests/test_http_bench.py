"""The HTTP and desk memory benchmarks' machinery: clients, percentiles, the bare server.

No test here asserts a timing; these check that the benchmarks send what they claim and
compare like with like.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench import desk_memory, http
from bench.http_clients import RequestFailed, drive, percentile
from desk.screens.trades import PAGE_SIZE

PRICES = b'[{"token_type":"OpenAI","price_btc":"0.000010152284"}]'
EXECUTED = b'{"id":7,"status":"completed"}'


@pytest.fixture
def bare_server(tmp_path: Path) -> Iterator[http.BareServer]:
    (tmp_path / "prices.json").write_bytes(PRICES)
    (tmp_path / "executed.json").write_bytes(EXECUTED)
    server = http.BareServer(tmp_path, tmp_path / "prices.json", tmp_path / "executed.json")
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize(("values", "fraction", "expected"), [
    ([5.0], 0.5, 5.0),
    ([5.0], 0.99, 5.0),
    ([1.0, 2.0, 3.0, 4.0], 0.5, 2.0),
    ([4.0, 3.0, 2.0, 1.0], 0.75, 3.0),
    ([float(n) for n in range(1, 101)], 0.99, 99.0),
    ([float(n) for n in range(1, 101)], 1.0, 100.0),
    ([float(n) for n in range(1, 1001)], 0.99, 990.0),
])
def test_percentile_nearest_rank(values: list[float], fraction: float,
                                 expected: float) -> None:
    assert percentile(values, fraction) == expected


@pytest.mark.parametrize(("values", "fraction"), [([], 0.5), ([1.0], 0.0), ([1.0], 1.5)])
def test_percentile_rejects_bad_input(values: list[float], fraction: float) -> None:
    with pytest.raises(ValueError):
        percentile(values, fraction)


def test_paired_ratio_is_median_of_pairs() -> None:
    assert http.paired_ratio([10.0, 30.0, 8.0], [20.0, 30.0, 4.0]) == 1.0
    with pytest.raises(ValueError):
        http.paired_ratio([1.0, 2.0], [1.0])


def test_bare_server_returns_stored_bytes(bare_server: http.BareServer) -> None:
    prices = httpx.get(f"{bare_server.url}/api/market/prices")
    executed = httpx.post(f"{bare_server.url}/api/trades/execute", json={"trade_id": 1})

    assert prices.content == PRICES
    assert prices.headers["content-type"] == "application/json"
    assert executed.content == EXECUTED
    assert executed.headers["content-type"] == "application/json"


def test_drive_sends_each_index_once(bare_server: http.BareServer) -> None:
    sent: Counter[int] = Counter()
    slots: set[int] = set()

    def send(client: httpx.Client, index: int, slot: int) -> httpx.Response:
        sent[index] += 1
        slots.add(slot)
        return client.get("/api/market/prices")

    run = drive(bare_server.url, 200, send, clients=8)

    assert sorted(sent) == list(range(200))
    assert set(sent.values()) == {1}
    assert slots <= set(range(8))
    assert len(run.latencies) == 200
    assert run.elapsed > 0
    assert run.server_cpu is None


def test_drive_fails_on_error_status(bare_server: http.BareServer) -> None:
    with pytest.raises(RequestFailed, match="404"):
        drive(bare_server.url, 10, lambda client, index, slot: client.get("/api/missing"),
              clients=2)


def test_drive_fails_when_server_unreachable(tmp_path: Path) -> None:
    server = http.BareServer(tmp_path, tmp_path / "prices.json", tmp_path / "executed.json")
    with pytest.raises(RequestFailed, match="failed in transit"):
        drive(server.url, 4, lambda client, index, slot: client.get("/api/health"), clients=2)


@pytest.mark.slow
def test_small_http_run_compares_both_endpoints() -> None:
    plan = http.Plan(prices_requests=40, execute_requests=12, repeats=2)
    report = http.measure(plan)
    rows = {result.name: result for result in http.results(report)}

    for measured in (report.prices, report.executions):
        assert len(measured.desk) == plan.repeats
        assert len(measured.bare) == plan.repeats
    assert all(len(run.latencies) == plan.prices_requests for run in report.prices.desk)
    assert all(len(run.latencies) == plan.execute_requests for run in report.executions.bare)
    assert report.prices_bytes > 0
    assert report.execute_bytes > 0
    assert len(rows) == 2 * len(http.FIGURES)
    prices_rate = rows["GET /api/market/prices, requests per second"]
    assert prices_rate.goal == "ratio ≥ 0.7"
    assert prices_rate.met is not None
    assert rows["GET /api/market/prices, server CPU time per request"].goal == "ratio ≤ 1.43"
    assert rows["POST /api/trades/execute, requests per second"].goal == ""
    assert all(result.ratio is not None and result.ratio > 0 for result in rows.values())


@pytest.mark.slow
def test_desk_memory_children_report_peaks(tmp_path: Path) -> None:
    desk_memory.prepare(tmp_path, offers=400)
    page = json.loads((tmp_path / "page.json").read_text(encoding="utf-8"))

    desk = desk_memory.child_peak_mib("desk", tmp_path)
    bare = desk_memory.child_peak_mib("bare", tmp_path)

    assert len(page) == PAGE_SIZE
    assert desk > 0
    assert bare > 0
