"""HTTP: two endpoints of a real ``desk serve`` under 32 concurrent clients, against a bare app.

The benchmark starts ``desk serve`` on a new SQLite file and, beside it, the bare FastAPI app of
``bench.bare_http`` under the same uvicorn configuration, both on free ports of 127.0.0.1. It
registers traders, captures the real bodies of ``GET /api/market/prices`` and ``POST
/api/trades/execute`` and gives them to the bare app, which returns them from memory. Then it
sends the same requests to both servers from 32 concurrent clients (``bench.http_clients``)
and compares requests per second and the median and 99th percentile latency. Runs alternate
which server goes first; each figure is the median over the repeats.

Prices are read by a logged-in trader. Each execute request takes a different offer posted
before the runs, by one of 32 takers, each funded by the starting grant. Like the desk's HTTP
backend, every execute request carries a new ``Idempotency-Key``.

    python -m bench.http            # 5 repeats of 2,000 price reads and 250 executions
    python -m bench.http --quick    # 2 repeats of 300 price reads and 60 executions
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import statistics
import sys
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.http_clients import REQUEST_TIMEOUT_SECONDS, Run, SendRequest, drive
from bench.load import PASSWORD, Server
from bench.measure import summarize
from bench.report import Result, format_number

TITLE = "HTTP: prices and executions with 32 concurrent clients"
CLIENTS = 32
# The market's default limit on one trader's active offers.
OFFERS_PER_MAKER = 200
PRICES_GOAL = 0.7
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Plan:
    """How many requests each timed run sends, and how many runs of each side there are."""

    prices_requests: int
    execute_requests: int
    repeats: int

    @property
    def offers(self) -> int:
        """Offers to post: one per timed execution, one per client for the warm-up and one
        whose response body the bare server returns."""
        return self.execute_requests * self.repeats + CLIENTS + 1


FULL = Plan(prices_requests=2000, execute_requests=250, repeats=5)
QUICK = Plan(prices_requests=300, execute_requests=60, repeats=2)


@dataclass
class Traders:
    """The sessions of the run, as request headers, and the offers posted for the takers."""

    reader: dict[str, str]
    takers: list[dict[str, str]]
    offers: list[int]


def log_in(client: httpx.Client, name: str) -> dict[str, str]:
    """Register a trader and return the headers of its session."""
    registered = client.post("/api/auth/register", json={
        "username": name, "email": f"{name}@example.com", "password": PASSWORD})
    registered.raise_for_status()
    session = client.post("/api/auth/login", json={"username": name, "password": PASSWORD})
    session.raise_for_status()
    return {"Authorization": f"Bearer {session.json()['access_token']}"}


def prepare(url: str, plan: Plan) -> Traders:
    """Register the traders and post every offer that the execute runs take."""
    run = uuid.uuid4().hex[:6]
    with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_SECONDS) as client:
        reader = log_in(client, f"reader{run}")
        takers = [log_in(client, f"taker{run}{index:02d}") for index in range(CLIENTS)]
        makers = [log_in(client, f"maker{run}{index:02d}")
                  for index in range(math.ceil(plan.offers / OFFERS_PER_MAKER))]
    posted: dict[int, int] = {}

    def post(client: httpx.Client, index: int, slot: int) -> httpx.Response:
        response = client.post("/api/trades/create", headers=makers[index // OFFERS_PER_MAKER],
                               json={"from_token": "OpenAI", "to_token": "Anthropic",
                                     "amount": "1", "exchange_rate": "1"})
        if response.is_success:
            posted[index] = response.json()["id"]
        return response

    drive(url, plan.offers, post, CLIENTS)
    return Traders(reader, takers, [posted[index] for index in sorted(posted)])


class Endpoints:
    """The two timed requests, sent the same way to the real server and the bare one."""

    def __init__(self, traders: Traders) -> None:
        self.traders = traders
        self._next_offer = 0

    def read_prices(self, client: httpx.Client, index: int, slot: int) -> httpx.Response:
        return client.get("/api/market/prices", headers=self.traders.reader)

    def take_offers(self, count: int) -> list[int]:
        """Return the next ``count`` posted offers, which no earlier call returned."""
        first = self._next_offer
        self._next_offer += count
        if self._next_offer > len(self.traders.offers):
            raise RuntimeError(f"only {len(self.traders.offers)} offers were posted")
        return self.traders.offers[first:self._next_offer]

    def execute(self, offers: Sequence[int]) -> SendRequest:
        """Return a sender whose request number ``index`` takes ``offers[index]``."""

        def send(client: httpx.Client, index: int, slot: int) -> httpx.Response:
            headers = {**self.traders.takers[slot], "Idempotency-Key": str(uuid.uuid4())}
            return client.post("/api/trades/execute", headers=headers,
                               json={"trade_id": offers[index]})

        return send


class BareServer(Server):
    """``bench.bare_http`` in its own process, serving the captured bodies."""

    def __init__(self, folder: Path, prices_body: Path, execute_body: Path) -> None:
        super().__init__(folder, database_url="")
        self.log_path = folder / "bare-server.log"
        self.prices_body = prices_body
        self.execute_body = execute_body

    def environment(self) -> dict[str, str]:
        # The process runs in the temporary folder, where the bench package is not found.
        paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        return {**super().environment(), "PYTHONPATH": os.pathsep.join(paths)}

    def command(self) -> list[str]:
        return [sys.executable, "-m", "bench.bare_http", "--port", str(self.port),
                "--prices", str(self.prices_body), "--execute", str(self.execute_body)]


@dataclass
class Measured:
    """Every timed run of one endpoint on each server, in the order of the repeats."""

    desk: list[Run]
    bare: list[Run]


def timed_run(server: Server, requests: int, send: SendRequest) -> Run:
    """Time one run of ``requests`` requests, with the server's CPU time over it."""
    cpu_started = server.cpu_seconds()
    run = drive(server.url, requests, send, CLIENTS)
    return dataclasses.replace(run, server_cpu=server.cpu_seconds() - cpu_started)


def measure_both(desk: Server, bare: Server, plan: Plan,
                 endpoints: Endpoints) -> tuple[Measured, Measured]:
    """Time both endpoints on both servers, alternating which server goes first."""
    prices = Measured([], [])
    executions = Measured([], [])
    # Untimed runs first: the first requests of a server pay for imports and warm-ups.
    warm_up = endpoints.take_offers(CLIENTS)
    for server in (desk, bare):
        drive(server.url, CLIENTS, endpoints.read_prices, CLIENTS)
        drive(server.url, CLIENTS, endpoints.execute(warm_up), CLIENTS)

    for repeat in range(plan.repeats):
        sides = [(desk, prices.desk, executions.desk), (bare, prices.bare, executions.bare)]
        if repeat % 2:
            sides.reverse()
        for server, runs, _ in sides:
            runs.append(timed_run(server, plan.prices_requests, endpoints.read_prices))
        # Both servers are sent the same offers; the bare one reads no body.
        offers = endpoints.take_offers(plan.execute_requests)
        for server, _, runs in sides:
            runs.append(timed_run(server, plan.execute_requests, endpoints.execute(offers)))
    return prices, executions


def capture_bodies(url: str, endpoints: Endpoints) -> tuple[bytes, bytes]:
    """Return the bodies of one real prices response and one real execute response."""
    with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_SECONDS) as client:
        prices = endpoints.read_prices(client, 0, 0)
        prices.raise_for_status()
        executed = endpoints.execute(endpoints.take_offers(1))(client, 0, 0)
        executed.raise_for_status()
    return prices.content, executed.content


@dataclass
class Report:
    """Every timed run of both endpoints, and the size of the bodies that were compared."""

    plan: Plan
    prices: Measured
    executions: Measured
    prices_bytes: int
    execute_bytes: int


def measure(plan: Plan) -> Report:
    """Start both servers, prepare the market, time every run, and stop the servers."""
    with tempfile.TemporaryDirectory(prefix="bench-http-") as temporary:
        folder = Path(temporary)
        desk = Server(folder, f"sqlite:///{folder / 'market.db'}")
        desk.start()
        bare: BareServer | None = None
        try:
            endpoints = Endpoints(prepare(desk.url, plan))
            prices_body, execute_body = capture_bodies(desk.url, endpoints)
            (folder / "prices.json").write_bytes(prices_body)
            (folder / "executed.json").write_bytes(execute_body)
            bare = BareServer(folder, folder / "prices.json", folder / "executed.json")
            bare.start()
            prices, executions = measure_both(desk, bare, plan, endpoints)
        finally:
            if bare is not None:
                bare.stop()
            desk.stop()
    return Report(plan, prices, executions, len(prices_body), len(execute_body))


def paired_ratio(desk: Sequence[float], bare: Sequence[float]) -> float:
    """Return the median over repeats of desk / bare, each pair measured one after the other.

    Pairing keeps a change in the machine's load between repeats out of the ratio.
    """
    return statistics.median(d / b for d, b in zip(desk, bare, strict=True))


@dataclass(frozen=True)
class Figure:
    """One row of an endpoint: what is measured, its unit and how to read it from a run."""

    name: str
    unit: str
    read: Callable[[Run], float]
    note: str


FIGURES = [
    Figure("requests per second", "req/s", lambda run: run.requests_per_second, ""),
    Figure("latency p50", "ms", lambda run: run.percentile_ms(0.5),
           "as the client saw it, queueing included"),
    Figure("latency p99", "ms", lambda run: run.percentile_ms(0.99),
           "as the client saw it, queueing included"),
    Figure("server CPU time per request", "µs", lambda run: run.server_cpu_per_request_us,
           "user and system time of the server process over the run, divided by its requests; "
           "other processes on the machine disturb it less than wall time"),
]


def endpoint_results(label: str, measured: Measured, requests: int, body_bytes: int,
                     goal: float | None = None) -> list[Result]:
    """Return the rows of one endpoint: throughput, p50 and p99 latency, and server CPU time.

    ``goal`` is the lowest acceptable ratio of throughput, if any; the CPU time row restates
    it as the highest acceptable ratio of cost, ``1 / goal``.
    """
    rows = []
    for figure in FIGURES:
        desk_values = [figure.read(run) for run in measured.desk]
        bare_values = [figure.read(run) for run in measured.bare]
        desk, bare = summarize(desk_values), summarize(bare_values)
        ratio = paired_ratio(desk_values, bare_values)
        note = figure.note
        goal_text, met = "", None
        if figure.unit == "req/s":
            note = (f"{CLIENTS} clients, {requests:,} requests per run, {body_bytes:,}-byte "
                    "response; ratio: the median of the repeats' ratios; client CPU per wall "
                    f"second: {_client_cpu(measured)}")
            if goal is not None:
                goal_text, met = f"ratio ≥ {goal:g}", ratio >= goal
        elif figure.unit == "µs" and goal is not None:
            goal_text, met = f"ratio ≤ {1 / goal:.2f}", ratio <= 1 / goal
            note += "; the goal is restated for CPU time"
        rows.append(Result(
            name=f"{label}, {figure.name}",
            value=desk.median,
            unit=figure.unit,
            baseline_name="bare FastAPI app, same bytes",
            baseline_value=bare.median,
            ratio=ratio,
            goal=goal_text,
            met=met,
            spread=f"{desk.spread(format_number)}; baseline {bare.spread(format_number)}",
            note=note,
        ))
    return rows


def _client_cpu(measured: Measured) -> str:
    desk = statistics.median(run.client_cpu_share for run in measured.desk)
    bare = statistics.median(run.client_cpu_share for run in measured.bare)
    return f"{desk:.2f} against desk serve, {bare:.2f} against the bare app"


def results(report: Report) -> list[Result]:
    plan = report.plan
    return [
        *endpoint_results("GET /api/market/prices", report.prices, plan.prices_requests,
                          report.prices_bytes, goal=PRICES_GOAL),
        *endpoint_results("POST /api/trades/execute", report.executions,
                          plan.execute_requests, report.execute_bytes),
    ]


def run(quick: bool) -> list[Result]:
    """Run the benchmark with the quick or the full plan."""
    return results(measure(QUICK if quick else FULL))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK.repeats} repeats of {QUICK.prices_requests} price reads "
                        f"and {QUICK.execute_requests} executions instead of {FULL.repeats} "
                        f"of {FULL.prices_requests} and {FULL.execute_requests}")
    arguments = parser.parse_args(argv)
    for result in run(arguments.quick):
        print(f"{result.name}: {format_number(result.value)} {result.unit} "
              f"(bare {format_number(result.baseline_value)}, ratio {result.ratio:.2f}; "
              f"{result.spread})\n    {result.note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
