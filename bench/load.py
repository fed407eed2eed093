"""Load: simulated traders against a real ``desk serve`` on loopback, then ``desk audit``.

The benchmark starts ``desk serve`` on a free port of 127.0.0.1 with a new SQLite file (or the
database given with ``--db``), registers the traders, and lets them trade at once for a fixed
time. Each trader is an asyncio task with its own session on one shared httpx client. It sends
one request after another with no pause, each drawn by weight (``WEIGHTS``) from listing the
book, reading its balance, posting an offer, taking another trader's offer, cancelling one of
its own and converting at market. Every request that moves funds carries an ``Idempotency-Key``,
as the HTTP backend sends. Conflicts (409) are expected, because traders race for the same
offers; a 5xx never is.

It reports requests per second, the median and 99th percentile latency as the client saw
it, the errors by status and code, and the server's peak resident set size (VmHWM from
/proc, so Linux only). Then it stops the server and runs ``desk audit`` on the database.

    python -m bench.load              # 50 traders for 20 s on a new SQLite file
    python -m bench.load --quick      # 50 traders for 5 s
    python -m bench.load --db postgresql+psycopg://postgres@127.0.0.1:5432/desk_load

The database given with ``--db`` must exist; ``desk serve`` creates its tables and seeds it.
Requests go to 127.0.0.1 only. The client and the server share the machine's cores, so the
figures measure the pair.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

TITLE = "Load: concurrent traders over HTTP"
HOST = "127.0.0.1"
TRADERS = 50
FULL_SECONDS = 20.0
QUICK_SECONDS = 5.0
# The baseline: one trader sending the same mix one request at a time, for this long.
SOLO_FULL_SECONDS = 5.0
SOLO_QUICK_SECONDS = 2.0
PASSWORD = "load-test-password"
AI_TOKENS = ("OpenAI", "Anthropic", "Google", "Cohere", "Mistral")
# How often each action is drawn, in percent.
WEIGHTS = {"list": 25, "balance": 20, "create": 20, "execute": 15, "cancel": 8, "convert": 12}
STARTUP_DEADLINE_SECONDS = 60.0
STOP_DEADLINE_SECONDS = 30.0
REQUEST_TIMEOUT_SECONDS = 30.0
# Offers remembered for takers to pick from; older ones are likely taken already.
RECENT_OFFERS = 200


@dataclass
class Tally:
    """The traders' record: each request's latency, and the failed requests counted by kind."""

    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    # Requests that failed in transit: (action, seconds into the run, the error).
    transport_failures: list[tuple[str, float, str]] = field(default_factory=list)
    # Seconds from the first request to the last response.
    elapsed: float = 0.0

    def record(self, action: str, started: float, response: httpx.Response | None,
               failure: str | None = None) -> None:
        self.latencies.append(time.perf_counter() - started)
        self.actions[action] += 1
        if failure is not None:
            self.errors[failure] += 1
        elif response is not None and response.status_code >= 400:
            code = _error_code(response)
            self.errors[f"{response.status_code} {code}".strip()] += 1


def _error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("code", "")) if isinstance(body, dict) else ""


@dataclass
class Trader:
    """One simulated trader: its session and its own open offers."""

    index: int
    headers: dict[str, str]
    open_offers: list[int] = field(default_factory=list)


class Server:
    """A ``desk serve`` process on a free loopback port, logging to a file."""

    def __init__(self, folder: Path, database_url: str) -> None:
        self.folder = folder
        self.database_url = database_url
        self.port = _free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log_path = folder / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """Return the command line of the server process."""
        return [sys.executable, "-m", "desk", "serve", "--host", HOST, "--port",
                str(self.port), "--db", self.database_url]

    def environment(self) -> dict[str, str]:
        """Return the environment of the server process."""
        environment = {name: value for name, value in os.environ.items()
                       if not name.startswith("DESK_")}
        environment.update({
            "DESK_DATA_DIR": str(self.folder / "data"),
            # The lowest bcrypt cost, so that registering 50 traders takes no time; no
            # request of the run itself hashes a password.
            "DESK_BCRYPT_ROUNDS": "4",
            "DESK_SECRET_KEY": "load-benchmark-signing-key-" + "k" * 32,
        })
        return environment

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.command(), cwd=self.folder,
                                            env=self.environment(),
                                            stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            try:
                status = self.process.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                continue
            raise RuntimeError(f"desk serve exited with status {status}; see {self.log_path}")
        self.stop()
        raise RuntimeError(f"desk serve was not healthy within {STARTUP_DEADLINE_SECONDS} s; "
                           f"see {self.log_path}")

    def peak_rss_mib(self) -> float | None:
        """Return the process's peak resident set size so far in MiB (Linux only)."""
        if self.process is None:
            return None
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return None

    def cpu_seconds(self) -> float:
        """Return the CPU time, user and system, that the process has used so far (Linux
        only; raise ``RuntimeError`` when the process is not running)."""
        if self.process is None:
            raise RuntimeError("the server is not running")
        try:
            stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        except OSError as error:
            raise RuntimeError(f"cannot read the server's CPU time: {error}") from None
        # The fields after the command name, which is in brackets and may hold spaces;
        # utime and stime are fields 14 and 15 of the line, in clock ticks.
        fields = stat.rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


async def register_traders(client: httpx.AsyncClient, count: int) -> list[Trader]:
    run = uuid.uuid4().hex[:6]
    traders = []
    for index in range(count):
        name = f"load{run}{index:03d}"
        created = await client.post("/api/auth/register", json={
            "username": name, "email": f"{name}@example.com", "password": PASSWORD})
        created.raise_for_status()
        session = await client.post("/api/auth/login",
                                    json={"username": name, "password": PASSWORD})
        session.raise_for_status()
        token = session.json()["access_token"]
        traders.append(Trader(index, {"Authorization": f"Bearer {token}"}))
    return traders


class Simulation:
    """The traders' shared state: recent offers to take, the tally and the deadline."""

    def __init__(self, client: httpx.AsyncClient, seconds: float, seed: int) -> None:
        self.client = client
        self.started = time.perf_counter()
        self.deadline = self.started + seconds
        self.random = random.Random(seed)
        self.tally = Tally()
        self.recent: deque[tuple[int, int]] = deque(maxlen=RECENT_OFFERS)

    async def trade(self, trader: Trader) -> None:
        actions = list(WEIGHTS)
        weights = list(WEIGHTS.values())
        while time.perf_counter() < self.deadline:
            action = self.random.choices(actions, weights)[0]
            await self.act(trader, action)

    async def act(self, trader: Trader, action: str) -> None:
        request = self.request_for(trader, action)
        if request is None:
            request = self.request_for(trader, "list")
            action = "list"
        assert request is not None
        method, path, body = request
        headers = dict(trader.headers)
        if method == "POST":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        started = time.perf_counter()
        try:
            response = await self.client.request(method, path, json=body, headers=headers)
        except httpx.TransportError as error:
            self.tally.record(action, started, None, failure=type(error).__name__)
            self.tally.transport_failures.append(
                (action, started - self.started, f"{type(error).__name__}: {error}"))
            return
        self.tally.record(action, started, response)
        if response.is_success:
            self.remember(trader, action, body, response)

    def request_for(self, trader: Trader, action: str,
                    ) -> tuple[str, str, dict[str, Any] | None] | None:
        """Return (method, path, body) of the action, or None if it has nothing to act on."""
        pick = self.random
        if action == "list":
            params = "?limit=50"
            if pick.random() < 0.5:
                first, second = pick.sample(AI_TOKENS, 2)
                params += f"&from_token={first}&to_token={second}"
            return "GET", f"/api/trades/list{params}", None
        if action == "balance":
            return "GET", "/api/user/balance", None
        if action == "create":
            first, second = pick.sample(AI_TOKENS, 2)
            return "POST", "/api/trades/create", {
                "from_token": first, "to_token": second, "amount": str(pick.randint(1, 5)),
                "exchange_rate": pick.choice(["0.9", "1", "1.1"])}
        if action == "execute":
            others = [offer for offer in self.recent if offer[1] != trader.index]
            if not others:
                return None
            trade_id, creator = pick.choice(others)
            self.recent.remove((trade_id, creator))
            return "POST", "/api/trades/execute", {"trade_id": trade_id}
        if action == "cancel":
            if not trader.open_offers:
                return None
            trade_id = trader.open_offers.pop(pick.randrange(len(trader.open_offers)))
            return "POST", "/api/trades/cancel", {"trade_id": trade_id}
        if pick.random() < 0.5:
            return "POST", "/api/market/convert", {
                "from_token": pick.choice(AI_TOKENS), "to_token": "BTC", "amount": "1"}
        return "POST", "/api/market/convert", {
            "from_token": "BTC", "to_token": pick.choice(AI_TOKENS), "amount": "0.00001"}

    def remember(self, trader: Trader, action: str, body: dict[str, Any] | None,
                 response: httpx.Response) -> None:
        if action == "create":
            trade_id = response.json()["id"]
            trader.open_offers.append(trade_id)
            self.recent.append((trade_id, trader.index))


async def simulate(url: str, traders: int, seconds: float, seed: int) -> Tally:
    async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT_SECONDS) as client:
        sessions = await register_traders(client, traders)
    # A client of its own for the run, so that no connection left idle since the
    # registrations meets the server's keep-alive timeout (5 s) mid-run.
    limits = httpx.Limits(max_connections=traders + 10, max_keepalive_connections=traders + 10)
    async with httpx.AsyncClient(base_url=url, limits=limits,
                                 timeout=REQUEST_TIMEOUT_SECONDS) as client:
        simulation = Simulation(client, seconds, seed)
        await asyncio.gather(*(simulation.trade(trader) for trader in sessions))
        simulation.tally.elapsed = time.perf_counter() - simulation.started
        return simulation.tally


@dataclass
class Audit:
    """The result of ``desk audit`` on the database after the run."""

    status: int
    output: str

    @property
    def failed_checks(self) -> int:
        return self.output.count("\nFAIL  ") + self.output.startswith("FAIL  ")


def run_audit(folder: Path, database_url: str) -> Audit:
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith("DESK_")}
    environment["DESK_DATA_DIR"] = str(folder / "data")
    result = subprocess.run([sys.executable, "-m", "desk", "audit", "--db", database_url],
                            cwd=folder, env=environment, capture_output=True, text=True,
                            timeout=600, check=False)
    return Audit(result.returncode, result.stdout + result.stderr)


@dataclass
class Report:
    """Everything one run measured."""

    traders: int
    seconds: float
    database: str
    tally: Tally
    peak_rss_mib: float | None
    audit: Audit
    # The server's peak resident set size once it was healthy, before the first trader
    # registered: the baseline of peak_rss_mib.
    idle_rss_mib: float | None = None
    # The server's log lines at WARNING level or above, and tracebacks.
    server_problems: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.tally.latencies)

    @property
    def elapsed(self) -> float:
        return self.tally.elapsed

    def percentile_ms(self, fraction: float) -> float:
        ordered = sorted(self.tally.latencies)
        if not ordered:
            return float("nan")
        if fraction == 0.5:
            return statistics.median(ordered) * 1000
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000

    def count(self, prefix: str) -> int:
        return sum(n for kind, n in self.tally.errors.items() if kind.startswith(prefix))

    def requests_per_second(self) -> float:
        return self.requests / self.elapsed

    def results(self, solo: Report | None = None) -> list[dict[str, Any]]:
        """Return the figures as benchmark rows; ``solo``, a one-trader run, is the baseline
        of throughput and latency."""

        def row(name: str, value: float, unit: str, note: str = "",
                baseline: float | None = None) -> dict[str, Any]:
            ratio = round(value / baseline, 2) if baseline else None
            shown = f"1 trader: {baseline:g} {unit}" if baseline is not None else None
            return {"name": name, "value": value, "unit": unit, "baseline": shown,
                    "ratio": ratio, "note": note}

        def solo_value(measure: Callable[[Report], float]) -> float | None:
            return round(measure(solo), 1) if solo is not None else None

        errors = sum(self.tally.errors.values())
        kinds = ", ".join(f"{kind} x{count}" for kind, count in self.tally.errors.most_common())
        actions = ", ".join(f"{action} {count}" for action, count
                            in sorted(self.tally.actions.items()))
        rows = [
            row(f"requests per second, {self.traders} traders",
                round(self.requests_per_second(), 1), "req/s",
                f"{self.requests} requests in {self.elapsed:.1f} s on {self.database}: "
                f"{actions}", solo_value(Report.requests_per_second)),
            row("latency p50", round(self.percentile_ms(0.5), 1), "ms",
                "as the client saw it, queueing included",
                solo_value(lambda report: report.percentile_ms(0.5))),
            row("latency p99", round(self.percentile_ms(0.99), 1), "ms", "",
                solo_value(lambda report: report.percentile_ms(0.99))),
            row("409 responses", self.count("409"), "responses",
                "expected: traders race for the same offers"),
            row("5xx responses", self.count("5"), "responses", "must be 0"),
            row("other errors", errors - self.count("409") - self.count("5"), "responses",
                f"all errors by kind: {kinds or 'none'}"),
        ]
        if self.peak_rss_mib is not None:
            memory = row("server peak resident memory", round(self.peak_rss_mib, 1), "MiB",
                          "VmHWM of the desk serve process at the end of the run; the baseline "
                          "is its VmHWM once started, before any request but the health check")
            if self.idle_rss_mib is not None:
                memory.update(baseline=None, baseline_name="idle server",
                              baseline_value=round(self.idle_rss_mib, 1),
                              ratio=round(self.peak_rss_mib / self.idle_rss_mib, 2))
            rows.append(memory)
        failed = self.audit.failed_checks if self.audit.status in (0, 1) else -1
        rows.append(row("desk audit afterwards: failed checks", failed, "checks",
                        f"exit status {self.audit.status}; -1 means the audit could not run"))
        return rows


def measure(traders: int, seconds: float, database_url: str | None = None,
            seed: int = 7) -> Report:
    """Run the whole benchmark once; return what it measured."""
    with tempfile.TemporaryDirectory(prefix="desk-load-") as temporary:
        folder = Path(temporary)
        url = database_url or f"sqlite:///{folder / 'market.db'}"
        server = Server(folder, url)
        server.start()
        try:
            idle = server.peak_rss_mib()
            tally = asyncio.run(simulate(server.url, traders, seconds, seed))
            peak = server.peak_rss_mib()
        finally:
            server.stop()
        audit = run_audit(folder, url)
        shown = "a new SQLite file" if database_url is None else _hide_password(url)
        problems = [line for line in server.log_path.read_text(errors="replace").splitlines()
                    if " WARNING " in line or " ERROR " in line or "Traceback" in line]
        return Report(traders, seconds, shown, tally, peak, audit, idle_rss_mib=idle,
                      server_problems=problems)


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def run(quick: bool) -> list[dict[str, Any]]:
    """Run the benchmark (5 s with ``quick``, else 20 s) on a new SQLite file, after a
    one-trader run of the same mix as its baseline."""
    solo = measure(1, SOLO_QUICK_SECONDS if quick else SOLO_FULL_SECONDS)
    report = measure(TRADERS, QUICK_SECONDS if quick else FULL_SECONDS)
    if report.audit.status != 0:
        print(report.audit.output, file=sys.stderr)
    return report.results(solo)


def describe(report: Report, solo: Report | None = None) -> str:
    lines = [f"{report.traders} traders for {report.seconds:g} s on {report.database}: "
             f"{report.requests} requests in {report.elapsed:.1f} s"]
    results = report.results(solo)
    width = max(len(item["name"]) for item in results)
    for item in results:
        compared = f"   ({item['baseline']}, ratio {item['ratio']})" if item["baseline"] else ""
        if item.get("baseline_value") is not None:
            compared = (f"   ({item['baseline_name']}: {item['baseline_value']} {item['unit']}, "
                        f"ratio {item['ratio']})")
        lines.append(f"  {item['name']:<{width}}  {item['value']:>10} {item['unit']}{compared}")
    lines.append("  requests by action: " + ", ".join(
        f"{action} {count}" for action, count in sorted(report.tally.actions.items())))
    errors = ", ".join(f"{kind} x{count}" for kind, count in report.tally.errors.most_common())
    lines.append(f"  errors by kind: {errors or 'none'}")
    for action, moment, error in report.tally.transport_failures[:20]:
        lines.append(f"    {action} at {moment:.2f} s failed in transit: {error}")
    lines.append(f"  server log warnings and errors: {len(report.server_problems)}")
    lines += [f"    {line}" for line in report.server_problems[:20]]
    lines.append("  desk audit afterwards (exit status "
                 f"{report.audit.status}):")
    lines += [f"    {line}" for line in report.audit.output.strip().splitlines()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"trade for {QUICK_SECONDS:g} s instead of {FULL_SECONDS:g} s")
    parser.add_argument("--seconds", type=float,
                        help="trade for this many seconds (overrides --quick)")
    parser.add_argument("--traders", type=int, default=TRADERS,
                        help="concurrent simulated traders (default: %(default)s)")
    parser.add_argument("--db", metavar="URL",
                        help="SQLAlchemy URL of an existing database, empty or already a "
                        "market (default: a new SQLite file in a temporary folder)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the one-trader run that throughput and latency are "
                        "compared with")
    arguments = parser.parse_args(argv)
    seconds = arguments.seconds or (QUICK_SECONDS if arguments.quick else FULL_SECONDS)
    solo = None
    if not arguments.no_baseline:
        solo_seconds = SOLO_QUICK_SECONDS if arguments.quick else SOLO_FULL_SECONDS
        solo = measure(1, solo_seconds, arguments.db)
    report = measure(arguments.traders, seconds, arguments.db)
    print(describe(report, solo))
    return 0 if report.audit.status == 0 and report.count("5") == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
