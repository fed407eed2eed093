"""Rows of a compact form: a label, an input and the input's error underneath."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Label, Static


class FormRow(Widget):
    """A labelled input with a line for its error, which is hidden while there is none.

    With ``errors=False`` the row has no error line, for forms that report one error below
    all their fields. The row lays its parts out on a grid, so it adds one widget to a form
    rather than a container per line.
    """

    DEFAULT_CSS = """
    FormRow {
        layout: grid;
        grid-size: 2;
        grid-columns: 14 1fr;
        grid-rows: auto;
        height: auto;
    }
    FormRow > .row-label { color: $text-muted; padding: 0 1 0 0; }
    FormRow > .row-error {
        column-span: 2;
        display: none;
        height: auto;
        padding: 0 0 0 14;
        color: $text-error;
    }
    FormRow.-invalid > .row-error { display: block; }
    """

    def __init__(self, label: str, field: Widget, *, id: str | None = None,
                 errors: bool = True) -> None:
        super().__init__(id=id)
        self.label = label
        self.field = field
        self.errors = errors

    def compose(self) -> ComposeResult:
        yield Label(self.label, classes="row-label")
        yield self.field
        if self.errors:
            yield Static("", classes="row-error")

    def show_error(self, message: str | None) -> None:
        """Show ``message`` under the input, or clear the error for None."""
        self.set_class(bool(message), "-invalid")
        self.query_one(".row-error", Static).update(f"✗ {message}" if message else "")
