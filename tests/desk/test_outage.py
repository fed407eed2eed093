"""Every trader action against a ``desk serve`` that was killed: each failure has its own
message, and the connection banner stays in sight over a dialog."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Button, Static

from desk.backend.remote import HttpBackend
from desk.widgets.banner import ConnectionBanner
from desk.widgets.field import Field
from desk.widgets.table import KeyedTable
from tests.desk.harness import DEMO, RecordingDeskApp, fill, log_in, make_app, settle
from tests.serving import ServerProcess
from tests.support import PASSWORD


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path)
    process.start()
    yield process
    process.stop()


def post_offer(url: str, username: str, password: str) -> int:
    backend = HttpBackend(url)
    try:
        backend.login(username, password)
        return backend.create_offer("OpenAI", "Anthropic", "10", "0.9").id
    finally:
        backend.close()


def unreachable_errors(app: RecordingDeskApp, title: str, url: str) -> list[str]:
    return [message for severity, shown_title, message in app.errors_shown()
            if shown_title == title and message.startswith(f"Cannot reach server at {url}")]


async def test_actions_fail_loudly_when_server_is_gone(server: ServerProcess) -> None:
    bob = HttpBackend(server.url)
    bob.register("bob", "bob@example.com", PASSWORD)
    bob.close()
    theirs = post_offer(server.url, "bob", PASSWORD)
    mine = post_offer(server.url, *DEMO)
    app = make_app(lambda: HttpBackend(server.url, retries=0))
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press("2")
        await settle(pilot)
        table = app.screen.query_one(KeyedTable)
        assert table.keys == [theirs, mine]
        server.kill()

        await pilot.press("t")
        assert app.screen.query_one(ConnectionBanner) is not None
        await pilot.press("y")
        await settle(pilot)
        assert unreachable_errors(app, f"Offer {theirs} not taken", server.url)
        assert app.connection_problem

        await pilot.press("down", "x")
        await settle(pilot)
        banner = app.screen.query_one(ConnectionBanner)
        assert banner.has_class("-shown")
        await pilot.press("y")
        await settle(pilot)
        assert unreachable_errors(app, f"Offer {mine} not cancelled", server.url)

        await pilot.press("n")
        await settle(pilot)
        await fill(pilot, "#offer-amount", "7")
        await fill(pilot, "#offer-rate", "1")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert unreachable_errors(app, "Offer not posted", server.url)
        status = str(app.screen.query_one("#offer-status", Static).render())
        assert status.startswith(f"✗ Not posted: Cannot reach server at {server.url}")
        assert app.screen.query_one("#offer-amount", Field).value == "7"
        assert app.screen.query_one("#offer-rate", Field).value == "1"
        assert not app.screen.query_one("#post", Button).disabled
        preview = str(app.screen.query_one("#offer-preview", Static).render())
        assert preview.startswith("Available: not loaded. Cannot reach server")
        await pilot.press("escape", "1")
        await settle(pilot)

        await pilot.press("c")
        await settle(pilot)
        await fill(pilot, "#convert-amount", "5")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert unreachable_errors(app, "Not converted", server.url)
        status = str(app.screen.query_one("#convert-status", Static).render())
        assert status.startswith("✗ Not converted: Cannot reach server")
        assert app.screen.query_one("#convert-amount", Field).value == "5"
