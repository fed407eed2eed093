"""Rows of a compact form: a label, an input and the input's error underneath."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Label, Static


class FormRow(Vertical):
    """A labelled input with a line for its error, which is hidden while there is none."""

    DEFAULT_CSS = """
    FormRow { height: auto; }
    FormRow > Horizontal { height: auto; }
    FormRow .row-label { width: 14; color: $text-muted; padding: 0 1 0 0; }
    FormRow .row-input { width: 1fr; }
    FormRow > .row-error {
        display: none;
        height: auto;
        padding: 0 0 0 14;
        color: $text-error;
    }
    FormRow.-invalid > .row-error { display: block; }
    """

    def __init__(self, label: str, field: Widget, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.label = label
        self.field = field
        field.add_class("row-input")

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label(self.label, classes="row-label")
            yield self.field
        yield Static("", classes="row-error")

    def show_error(self, message: str | None) -> None:
        """Show ``message`` under the input, or clear the error for None."""
        self.set_class(bool(message), "-invalid")
        self.query_one(".row-error", Static).update(f"✗ {message}" if message else "")
