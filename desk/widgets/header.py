"""The desk's header: who is logged in, where the market is, the time, and the sections."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.cells import cell_len
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from desk.formatting import clock_text

if TYPE_CHECKING:
    from desk.app import DeskApp

CLOCK_INTERVAL_SECONDS = 1.0
# Number key and title of each section, in the order of the keys.
NAVIGATION = (("1", "portfolio", "Portfolio"), ("2", "trades", "Open trades"),
              ("3", "market", "Market"), ("4", "history", "History"), ("?", "help", "Keys"))


# The header's label of a live stream that is not live; a live stream has none.
STREAM_LABELS = {"stale": " ⚠ stale ", "reconnecting": " ⚠ reconnecting… "}


def shorten_left(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` cells from the left, so a path keeps its file name."""
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    return "…" + text[-(width - 1):]


class DeskHeader(Widget):
    """Two lines: the desk's name, user, connection, stream state and clock; then the keys.

    ``section`` names the screen's section to mark it in the key line; a screen without one
    (the login screen) shows no key line. One widget draws both lines: a header of labels in
    containers costs the login screen several widgets to style before its first frame.
    """

    DEFAULT_CSS = """
    DeskHeader {
        dock: top;
        height: 1;
        background: $panel;
        color: $foreground;
    }
    DeskHeader.-sections { height: 2; }
    """

    app: DeskApp  # type: ignore[assignment]
    clock = reactive("")

    def __init__(self, section: str = "") -> None:
        super().__init__(classes="-sections" if section else "")
        self.section = section

    def on_mount(self) -> None:
        self.watch(self.app, "username", self.refresh)
        self.watch(self.app, "location", self.refresh)
        self.watch(self.app, "stream_state", self.refresh)
        self._tick()
        self.set_interval(CLOCK_INTERVAL_SECONDS, self._tick)

    def _tick(self) -> None:
        self.clock = clock_text(self.app.clock(), self.app.timezone)

    def render(self) -> Content:
        width = self.size.width
        title = f" {self.app.title} "
        user = f" {self.app.username} " if self.app.username else ""
        clock = f" {self.clock} "
        stream = STREAM_LABELS.get(self.app.stream_state, "") if self.app.username else ""
        room = (width - cell_len(title) - cell_len(user) - cell_len(clock) - cell_len(stream)
                - 2)
        location = shorten_left(self.app.location or "connecting…", max(room, 0))
        gap = max(0, room - cell_len(location))

        parts: list[str | tuple[str, str]] = [
            (title, "bold"),
            (user, "bold $text-accent"),
            (f" {location}", "$text-muted"),
            " " * (gap + 1),
        ]
        if stream:
            parts.append((stream, "bold $text-warning"))
        parts.append(clock)
        if self.section:
            parts.append("\n ")
            for key, name, label in NAVIGATION:
                current = name == self.section
                parts.append((f" {key} ", "bold reverse" if current else "bold"))
                parts.append((label, "bold underline" if current else ""))
                parts.append("  ")
        return Content.assemble(*parts)
