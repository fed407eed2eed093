"""A yes-or-no dialog that states exactly what will happen."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Label, Static

from desk.screens.base import DeskModal


class ConfirmDialog(DeskModal):
    """Dismisses with True on ``y`` or the confirm button, False on ``n`` or escape."""

    AUTO_FOCUS = "#yes"
    BINDINGS: ClassVar[list[Any]] = [
        Binding("y", "confirm", "Yes", id="confirm.yes", tooltip="Go ahead"),
        Binding("n", "close", "No", id="confirm.no", tooltip="Close without acting"),
    ]

    def __init__(self, title: str, body: Text | str, confirm_label: str) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog confirm"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.body, classes="confirm-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("No", id="no", compact=True)
                yield Button(f"Yes, {self.confirm_label}", id="yes", variant="primary",
                             compact=True)

    @on(Button.Pressed, "#yes")
    def action_confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#no")
    def _no(self) -> None:
        self.dismiss(False)

    def action_close(self) -> None:
        self.dismiss(False)
