"""A text input that follows the app's cursor-blink setting."""

from __future__ import annotations

from textual.widgets import Input


class Field(Input):
    """An ``Input`` whose cursor blinks only when ``DeskApp.cursor_blink`` is true.

    Screenshots in tests turn blinking off, so the cursor is drawn the same in every run.
    """

    def on_mount(self) -> None:
        self.cursor_blink = getattr(self.app, "cursor_blink", True)
