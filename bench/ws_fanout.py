"""WebSocket fan-out: how long one price tick takes to reach 200 connected stream clients.

A child process runs the real server application under uvicorn, configured as ``desk serve``
configures it, on a fresh SQLite market with 200 traders. The benchmark process connects one
WebSocket client per trader to ``/api/ws``. For each tick, the child stamps a price event with
the current time and publishes it on the market's event bus, the way the price feed does. Each
client notes when the message arrives. Latency is arrival time minus the stamp (both are
``time.time()`` on one machine).

As a baseline, the same child also serves plain TCP: 200 sockets that receive the same JSON
bytes, newline-terminated, written by one loop callback that the publishing thread schedules.
WebSocket and TCP ticks alternate, so both see the same machine load. Each ratio is the
WebSocket figure over the TCP one.

Run it with ``python bench/ws_fanout.py`` (``--quick`` for fewer ticks). ``run(quick)`` returns
the figures for the benchmark runner.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

CLIENTS = 200
TICKS = 200
QUICK_TICKS = 40
# Ticks of each kind measured first and left out of the figures, while caches and buffers warm.
WARMUP_TICKS = 10
# Seconds to wait for every client to receive a tick before the run fails.
TICK_DEADLINE = 30.0
HOST = "127.0.0.1"
SECRET = "bench-signing-key-" + "b" * 32


@dataclass
class Samples:
    """Per-message latencies, and per tick the latency of the last client to receive it."""

    latencies: list[float] = field(default_factory=list)
    last_arrivals: list[float] = field(default_factory=list)

    def percentile(self, values: list[float], fraction: float) -> float:
        ordered = sorted(values)
        index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
        return ordered[index]


# The child process: the server application, the TCP baseline and the publisher.


def serve_child(database_url: str, clients: int, control: Connection) -> None:
    """Run the server and the TCP baseline until ``control`` sends "stop" (in the child)."""
    import uvicorn

    from desk.backend.market import Market, MarketConfig
    from desk.backend.server import create_app
    from desk.cli import uvicorn_config
    from desk.settings import Settings

    market = Market.open(database_url, MarketConfig(secret_key=SECRET, bcrypt_rounds=4),
                         demo=False)
    tokens = []
    for number in range(clients):
        user = market.register(f"bench{number:04d}", f"bench{number:04d}@example.com",
                               "bench-password")
        tokens.append(market.tokens.issue(user.id))

    settings = Settings(feed_interval_seconds=3600, ws_queue_limit=1000)
    app = create_app(market, stream_options=settings.stream_options())
    ws_port, tcp_port = free_port(), free_port()
    server = uvicorn.Server(uvicorn_config(app, settings, HOST, ws_port))
    server.config.log_level = "warning"
    tcp_writers: list[asyncio.StreamWriter] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            tcp_writers.append(writer)
            # A client counts as connected once it reads this line, as a WebSocket client does
            # once it reads its hello. Before that, a broadcast could miss it.
            writer.write(b"ready\n")

        tcp_server = await asyncio.start_server(accept, HOST, tcp_port)
        threading.Thread(target=publish_on_command, args=(loop,), daemon=True).start()
        async with tcp_server:
            await server.serve()

    def broadcast(data: bytes) -> None:
        for writer in tcp_writers:
            writer.write(data)

    def publish_on_command(loop: asyncio.AbstractEventLoop) -> None:
        from desk.backend.events import PriceEvent, event_adapter

        while not server.started:
            time.sleep(0.01)
        control.send({"ws_port": ws_port, "tcp_port": tcp_port, "tokens": tokens})
        prices = market.prices()
        while True:
            command = control.recv()
            if command == "stop":
                server.should_exit = True
                return
            stamp = datetime.fromtimestamp(time.time(), UTC)
            event = PriceEvent(prices=[price.model_copy(update={"last_updated": stamp})
                                       for price in prices])
            if command == "ws":
                market.events.publish(event)
            else:
                data = event_adapter.dump_json(event) + b"\n"
                loop.call_soon_threadsafe(broadcast, data)

    asyncio.run(main())
    market.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


# The benchmark process: the clients.


class Tick:
    """The arrivals of one tick; ``done`` is set when every client has received it.

    Messages are parsed after the tick, so that parsing does not delay the next reader.
    """

    def __init__(self, clients: int) -> None:
        self.clients = clients
        self.arrivals: list[tuple[float, str | bytes]] = []
        self.done = asyncio.Event()

    def arrive(self, arrived: float, text: str | bytes) -> None:
        self.arrivals.append((arrived, text))
        if len(self.arrivals) == self.clients:
            self.done.set()

    def latencies(self) -> list[float]:
        result = []
        for arrived, text in self.arrivals:
            stamp = json.loads(text)["prices"][0]["last_updated"]
            sent = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
            result.append(arrived - sent)
        return result


async def measure_async(info: dict[str, Any], control: Connection, clients: int,
                        ticks: int, warmup: int) -> dict[str, Samples]:
    from websockets.asyncio.client import connect

    current: dict[str, Tick] = {}

    async def read_ws(websocket: Any) -> None:
        async for message in websocket:
            arrived = time.time()
            tick = current.get("ws")
            if tick is not None:
                tick.arrive(arrived, message)

    async def read_tcp(reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            arrived = time.time()
            tick = current.get("tcp")
            if tick is not None:
                tick.arrive(arrived, line)

    websockets = []
    for token in info["tokens"][:clients]:
        websocket = await connect(f"ws://{HOST}:{info['ws_port']}/api/ws", compression=None,
                                  max_queue=None)
        await websocket.send(json.dumps({"type": "auth", "token": token}))
        await websocket.recv()  # the hello
        websockets.append(websocket)
    streams = [await asyncio.open_connection(HOST, info["tcp_port"]) for _ in range(clients)]
    for reader, _writer in streams:
        await reader.readline()  # the server's "ready"
    readers = [asyncio.create_task(read_ws(websocket)) for websocket in websockets]
    readers += [asyncio.create_task(read_tcp(reader)) for reader, _writer in streams]

    samples = {"ws": Samples(), "tcp": Samples()}
    try:
        for number in range((warmup + ticks) * 2):
            kind = "ws" if number % 2 == 0 else "tcp"
            tick = current[kind] = Tick(clients)
            control.send(kind)
            await asyncio.wait_for(tick.done.wait(), TICK_DEADLINE)
            del current[kind]
            if number < warmup * 2:
                continue
            latencies = tick.latencies()
            samples[kind].latencies += latencies
            samples[kind].last_arrivals.append(max(latencies))
            # A pause between ticks, so that each one starts from idle connections.
            await asyncio.sleep(0.005)
    finally:
        for task in readers:
            task.cancel()
        for websocket in websockets:
            await websocket.close()
        for _reader, writer in streams:
            writer.close()
    return samples


def measure(clients: int, ticks: int, warmup: int = WARMUP_TICKS) -> dict[str, Samples]:
    """Start the child, measure ``ticks`` ticks of each kind to ``clients`` clients, stop.

    ``warmup`` more ticks of each kind go first and are not measured.
    """
    context = multiprocessing.get_context("spawn")
    parent_end, child_end = context.Pipe()
    with tempfile.TemporaryDirectory(prefix="ws-fanout-") as folder:
        database_url = f"sqlite:///{Path(folder) / 'market.db'}"
        child = context.Process(target=serve_child, args=(database_url, clients, child_end),
                                daemon=True)
        child.start()
        try:
            if not parent_end.poll(120):
                raise RuntimeError("the benchmark server did not start within 120 s")
            info = parent_end.recv()
            return asyncio.run(measure_async(info, parent_end, clients, ticks, warmup))
        finally:
            parent_end.send("stop")
            child.join(timeout=30)
            if child.is_alive():
                child.kill()


def run(quick: bool) -> list[dict[str, Any]]:
    """Measure fan-out to 200 clients; return one row per figure for the benchmark runner."""
    samples = measure(CLIENTS, QUICK_TICKS if quick else TICKS)
    ws, tcp = samples["ws"], samples["tcp"]
    rows = []
    figures = [
        ("p50", ws.latencies, tcp.latencies, 0.50),
        ("p99", ws.latencies, tcp.latencies, 0.99),
        ("last client p50", ws.last_arrivals, tcp.last_arrivals, 0.50),
    ]
    for label, ws_values, tcp_values, fraction in figures:
        value = ws.percentile(ws_values, fraction) * 1000
        baseline = tcp.percentile(tcp_values, fraction) * 1000
        rows.append({
            "name": f"ws fan-out to {CLIENTS} clients, {label}",
            "value": round(value, 3),
            "unit": "ms",
            "baseline": round(baseline, 3),
            "ratio": round(value / baseline, 2) if baseline else None,
        })
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"measure {QUICK_TICKS} ticks of each kind instead of {TICKS}")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {CLIENTS} clients, "
          f"{QUICK_TICKS if args.quick else TICKS} ticks per kind")
    for row in run(args.quick):
        print(f"{row['name']}: {row['value']} {row['unit']} (TCP {row['baseline']} "
              f"{row['unit']}, ratio {row['ratio']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
