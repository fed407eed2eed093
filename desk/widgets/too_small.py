"""The note a screen shows in place of its content when the terminal is too small for it."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget


class TooSmall(Widget):
    """Hidden unless the screen has the ``-too-narrow`` or ``-too-short`` class.

    The app sets those classes from its breakpoints; the app's stylesheet hides the rest of
    the screen at the same time.
    """

    DEFAULT_CSS = """
    TooSmall {
        display: none;
        width: 1fr;
        height: 1fr;
        content-align: center middle;
        text-align: center;
        text-style: bold;
    }
    """

    def __init__(self) -> None:
        super().__init__(id="too-small")

    def render(self) -> Text:
        from desk.app import MIN_HEIGHT, MIN_WIDTH

        width, height = self.app.size
        return Text(
            f"The terminal is {width}×{height}; the desk needs at least {MIN_WIDTH}×{MIN_HEIGHT}."
            "\nEnlarge the window to go on.",
            justify="center",
        )
