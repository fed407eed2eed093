"""The banner shown while the market does not respond or the live stream is not live."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Static

if TYPE_CHECKING:
    from desk.app import DeskApp


def stream_notice(state: str, detail: str) -> str:
    """Describe a live stream that is not live, for the banner; empty while it is live."""
    if state == "stale":
        return f"⚠ Live updates stale: {detail or 'no message for a while'}. Prices may be old."
    if state == "reconnecting":
        reason = f" ({detail})" if detail else ""
        return f"⚠ Live updates reconnecting…{reason}"
    return ""


class ConnectionBanner(Static):
    """A line under the header, shown while ``DeskApp.connection_problem`` is set or the live
    stream is stale or reconnecting.

    A failed request outranks the stream, because it means no action can reach the market.
    """

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
    ConnectionBanner.-stream { background: $warning; color: $text; }
    """

    app: DeskApp  # type: ignore[assignment]

    def on_mount(self) -> None:
        self.watch(self.app, "connection_problem", self._show)
        self.watch(self.app, "stream_state", self._show, init=False)
        self.watch(self.app, "stream_detail", self._show, init=False)

    def _show(self, _: object = None) -> None:
        problem = self.app.connection_problem
        notice = "" if problem else stream_notice(self.app.stream_state, self.app.stream_detail)
        self.set_class(bool(problem or notice), "-shown")
        self.set_class(bool(notice), "-stream")
        if problem:
            self.update(f"⚠ Connection lost, retrying: {problem}")
        elif notice:
            self.update(notice)
