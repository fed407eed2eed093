"""The banner shown while the market does not respond and the desk retries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Static

if TYPE_CHECKING:
    from desk.app import DeskApp


class ConnectionBanner(Static):
    """A line under the header, shown only while ``DeskApp.connection_problem`` is set."""

    DEFAULT_CSS = """
    ConnectionBanner {
        height: auto;
        display: none;
        padding: 0 1;
        background: $error;
        color: $text;
        text-style: bold;
    }
    ConnectionBanner.-shown { display: block; }
    """

    app: DeskApp  # type: ignore[assignment]

    def on_mount(self) -> None:
        self.watch(self.app, "connection_problem", self._show)

    def _show(self, problem: str) -> None:
        self.set_class(bool(problem), "-shown")
        if problem:
            self.update(f"⚠ Connection lost, retrying: {problem}")
