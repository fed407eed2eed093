"""The real ``desk`` command in a real terminal: tmux at 80×24, keys sent, the pane read back.

This is the check closest to a person at a keyboard: the console script, the embedded database
created on first start, the terminal driver and the layout at the smallest supported size.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

DEADLINE_SECONDS = 30.0
POLL_SECONDS = 0.1


class Terminal:
    """A detached tmux session on a private server socket, running one command."""

    def __init__(self, socket: str, name: str) -> None:
        self.socket = socket
        self.name = name

    def tmux(self, *args: str) -> str:
        result = subprocess.run(["tmux", "-L", self.socket, *args], check=True,
                                capture_output=True, text=True, timeout=10)
        return result.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.name, *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.name, "-l", text)

    def cursor_row(self) -> int:
        """Return the row of the terminal cursor, which Textual keeps in the focused input."""
        return int(self.tmux("display-message", "-p", "-t", self.name, "#{cursor_y}"))

    def enter_to_next_field(self) -> None:
        """Press Enter in an input and wait until the cursor is in the next one.

        Textual moves the focus in a message handler after the Enter key, so characters sent
        at once would still reach the old input; a person sees the cursor move first.
        """
        row = self.cursor_row()
        self.keys("Enter")
        deadline = time.monotonic() + DEADLINE_SECONDS
        while self.cursor_row() == row:
            if time.monotonic() > deadline:
                raise AssertionError(f"the cursor stayed on row {row}:\n{self.screen()}")
            time.sleep(POLL_SECONDS)

    def wait_for(self, text: str, *, gone: bool = False) -> str:
        """Poll the pane until ``text`` shows (or, with ``gone``, no longer shows)."""
        deadline = time.monotonic() + DEADLINE_SECONDS
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if (text in screen) != gone:
                return screen
            time.sleep(POLL_SECONDS)
        state = "still shown" if gone else "not shown"
        raise AssertionError(f"{text!r} {state} after {DEADLINE_SECONDS}s; the pane reads:\n"
                             f"{screen}")


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    socket = f"desk-test-{os.getpid()}"
    term = Terminal(socket, "desk")
    data = tmp_path / "data"
    # The feed stays still, so the prices that the test reads are the seeded ones: every tick
    # of a moving feed would reach the screen at once.
    command = (f"cd {tmp_path} && DESK_DATA_DIR={data} DESK_BCRYPT_ROUNDS=4 "
               f"DESK_FEED_INTERVAL_SECONDS=3600 "
               f"{sys.executable} -m desk; echo desk-exited-$?; sleep 30")
    term.tmux("-f", "/dev/null", "new-session", "-d", "-s", term.name, "-x", "80", "-y", "24",
              command)
    try:
        yield term
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=10)


def test_desk_in_tmux(terminal: Terminal, tmp_path: Path) -> None:
    terminal.wait_for("New here? ctrl+r registers an account.")
    # The location line wraps a long path; its file name shows once the market is open.
    terminal.wait_for("desk.db")

    # Like a person, wait to see each field take the typing before pressing Enter.
    terminal.type("demo")
    terminal.wait_for("Username      demo")
    terminal.enter_to_next_field()
    terminal.type("demo123")
    terminal.wait_for("Password      •••••••")
    terminal.keys("Enter")
    screen = terminal.wait_for("5,000.000000")
    assert "Total value: 0.39340100 BTC" in screen
    assert "Share" in screen

    terminal.type("2")
    terminal.wait_for("No open offers match")
    terminal.type("3")
    terminal.wait_for("0.00001015 BTC")
    terminal.type("4")
    terminal.wait_for("Closed trades")

    terminal.type("2")
    terminal.wait_for("No open offers match")
    terminal.type("n")
    terminal.wait_for("You offer")
    terminal.type("10")
    terminal.wait_for("Amount        10 ")
    terminal.enter_to_next_field()
    terminal.type("1.5")
    terminal.wait_for("A taker pays 15.000000 Anthropic")
    terminal.keys("Enter")
    screen = terminal.wait_for("OpenAI→Anthropic")
    assert "10.000000" in screen
    assert "you" in screen

    terminal.type("?")
    terminal.wait_for("On this screen")
    terminal.keys("Escape")
    terminal.wait_for("On this screen", gone=True)

    terminal.keys("C-q")
    terminal.wait_for("desk-exited-0")
