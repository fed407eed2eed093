"""The desk's header: who is logged in, where the market is, the time, and the sections."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Label, Static

from desk.formatting import clock_text

if TYPE_CHECKING:
    from desk.app import DeskApp

CLOCK_INTERVAL_SECONDS = 1.0
# Number key and title of each section, in the order of the keys.
NAVIGATION = (("1", "portfolio", "Portfolio"), ("2", "trades", "Open trades"),
              ("3", "market", "Market"), ("4", "history", "History"), ("?", "help", "Keys"))


class DeskHeader(Widget):
    """Two lines: the desk's name, user, connection and clock; then the section keys.

    ``section`` names the screen's section to mark it in the key line; a screen without one
    (the login screen) shows no key line.
    """

    DEFAULT_CSS = """
    DeskHeader {
        dock: top;
        height: auto;
        background: $panel;
        color: $foreground;
    }
    DeskHeader #top { height: 1; }
    DeskHeader #title { text-style: bold; width: auto; padding: 0 1; }
    DeskHeader #user { width: auto; padding: 0 1; color: $text-accent; text-style: bold; }
    DeskHeader #location {
        width: 1fr;
        padding: 0 1;
        color: $text-muted;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    DeskHeader #clock { width: auto; padding: 0 1; }
    DeskHeader #sections { height: 1; padding: 0 1; background: $boost; }
    """

    app: DeskApp  # type: ignore[assignment]

    def __init__(self, section: str = "") -> None:
        super().__init__()
        self.section = section

    def compose(self) -> ComposeResult:
        with Horizontal(id="top"):
            yield Label(self.app.title, id="title")
            yield Label("", id="user")
            yield Label("", id="location")
            yield Label("", id="clock")
        if self.section:
            yield Static(self._sections(), id="sections")

    def _sections(self) -> Text:
        line = Text()
        for key, name, title in NAVIGATION:
            current = name == self.section
            line.append(f" {key} ", style="bold reverse" if current else "bold")
            line.append(f"{title}", style="bold underline" if current else "")
            line.append("  ")
        return line

    def on_mount(self) -> None:
        self.watch(self.app, "username", self._show_user)
        self.watch(self.app, "location", self._show_location)
        self._tick()
        self.set_interval(CLOCK_INTERVAL_SECONDS, self._tick)

    def _show_user(self, username: str) -> None:
        user = self.query_one("#user", Label)
        user.update(username)
        user.display = bool(username)

    def _show_location(self, location: str) -> None:
        self.query_one("#location", Label).update(location or "connecting…")

    def _tick(self) -> None:
        now = self.app.clock()
        self.query_one("#clock", Label).update(clock_text(now, self.app.timezone))
