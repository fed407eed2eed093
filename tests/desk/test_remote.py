"""The desk against a real ``desk serve`` on 127.0.0.1, over HTTP and its live stream: the
main flow, another trader's offers arriving, and a server that stops and comes back.

Skipped only while the HTTP backend (``desk.backend.remote``) is missing from the build.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from desk.screens.market import MarketScreen
from desk.screens.portfolio import PortfolioScreen
from desk.widgets.balances import BalanceTable
from desk.widgets.banner import ConnectionBanner
from desk.widgets.header import DeskHeader
from desk.widgets.table import KeyedTable
from tests.desk.harness import fill, log_in, make_app, settle
from tests.serving import ServerProcess
from tests.support import PASSWORD

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("desk.backend.remote") is None,
    reason="desk.backend.remote (the HTTP backend) is not in this build",
)

START_DEADLINE_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str]:
    """Run ``desk serve`` on a free loopback port with its own SQLite file."""
    import httpx

    port = free_port()
    env = {**os.environ, "DESK_DATA_DIR": str(tmp_path / "server"), "DESK_BCRYPT_ROUNDS": "4"}
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "desk", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--db", f"sqlite:///{tmp_path / 'server.db'}"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_DEADLINE_SECONDS
        while True:
            if server.poll() is not None:
                raise AssertionError(f"desk serve exited: {(tmp_path / 'server.log').read_text()}")
            try:
                if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("desk serve did not answer /api/health in time")
            time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def http_desk(url: str):  # type: ignore[no-untyped-def]
    from desk.backend.remote import HttpBackend

    return make_app(lambda: HttpBackend(url))


async def test_offer_taken_over_http(server_url: str) -> None:
    maker = http_desk(server_url)
    async with maker.run_test(notifications=True) as pilot:
        await log_in(pilot)
        assert isinstance(maker.screen, PortfolioScreen)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        await fill(pilot, "#offer-amount", "250.5")
        await fill(pilot, "#offer-rate", "0.8")
        await pilot.press("enter")
        await settle(pilot)
        table = maker.screen.query_one(KeyedTable)
        [offer_id] = table.keys
        assert table.cell_text(offer_id, "pays") == "200.400000"
        assert maker.errors_shown() == []

    taker = http_desk(server_url)
    async with taker.run_test(notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+r")
        await fill(pilot, "#register-username", "bob")
        await fill(pilot, "#register-email", "bob@example.com")
        await fill(pilot, "#register-password", PASSWORD)
        await pilot.press("enter")
        await settle(pilot)
        assert taker.username == "bob"
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("t", "y")
        await settle(pilot)
        await pilot.press("1")
        await settle(pilot)
        balances = taker.screen.query_one(BalanceTable)
        assert balances.cell_text("OpenAI", "total") == "1,250.500000"
        assert balances.cell_text("Anthropic", "total") == "799.600000"
        assert taker.errors_shown() == []

    maker_again = http_desk(server_url)
    async with maker_again.run_test(notifications=True) as pilot:
        await log_in(pilot)
        balances = maker_again.screen.query_one(BalanceTable)
        assert balances.cell_text("Anthropic", "total") == "4,200.400000"
        await pilot.press("4")
        await settle(pilot)
        history = maker_again.screen.query_one("#trade-history", KeyedTable)
        assert history.cell_text(offer_id, "status") == "completed"


STREAM_DEADLINE_SECONDS = 60.0


async def wait_until(pilot: Pilot[Any], condition: Callable[[], bool], expected: str) -> None:
    """Let the desk run until ``condition`` is true; fail after a generous deadline."""
    deadline = time.monotonic() + STREAM_DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"the desk did not reach the expected state: {expected}")
        await pilot.pause(0.05)  # a poll interval, not a wait for readiness


@pytest.fixture
def ticking_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """``desk serve`` with a price feed that ticks every half second."""
    server = ServerProcess(tmp_path, environment={"DESK_FEED_INTERVAL_SECONDS": "0.5"})
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_offer_from_another_desk_over_http(ticking_server: ServerProcess) -> None:
    from desk.backend.remote import HttpBackend

    app = http_desk(ticking_server.url)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await wait_until(pilot, lambda: app.stream_state == "connected", "a live stream")
        await pilot.press("2")
        await settle(pilot)
        table = app.screen.query_one(KeyedTable)
        assert table.row_count == 0

        other = HttpBackend(ticking_server.url)
        try:
            other.register("bob", "bob@example.com", PASSWORD)
            other.login("bob", PASSWORD)
            offer = other.create_offer("Cohere", "OpenAI", "5", "2")
            await wait_until(pilot, lambda: table.keys == [offer.id], "bob's offer listed")
            assert table.cell_text(offer.id, "creator") == f"#{offer.creator_id}"

            other.cancel_offer(offer.id)
            await wait_until(pilot, lambda: table.row_count == 0, "bob's offer gone")
        finally:
            other.close()
        assert app.errors_shown() == []


async def test_desk_recovers_from_server_restart(ticking_server: ServerProcess) -> None:
    app = http_desk(ticking_server.url)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await wait_until(pilot, lambda: app.stream_state == "connected", "a live stream")
        await pilot.press("3")
        await settle(pilot)
        banner = app.screen.query_one(ConnectionBanner)
        assert not banner.has_class("-shown")

        ticking_server.kill()
        await wait_until(pilot, lambda: app.stream_state == "reconnecting", "reconnecting")
        await settle(pilot)
        assert banner.has_class("-shown")
        assert "Live updates reconnecting" in str(banner.render())
        assert "reconnecting…" in str(app.screen.query_one(DeskHeader).render())
        last_tick = max(price.last_updated for price in app.prices)
        version = app.market_version

        ticking_server.restart()
        await wait_until(pilot, lambda: app.stream_state == "connected", "live again")
        await wait_until(pilot, lambda: app.market_version > version, "a catch-up reload")
        await wait_until(
            pilot, lambda: max(price.last_updated for price in app.prices) > last_tick,
            "prices newer than before the restart")
        await settle(pilot)
        assert not banner.has_class("-shown")
        assert isinstance(app.screen, MarketScreen)
        assert app.username == "demo"
        assert app.errors_shown() == []
