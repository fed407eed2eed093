"""A checkbox whose mark shows its state without colour."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Checkbox


class TickCheckbox(Checkbox):
    """A ``Checkbox`` with a tick when checked and a blank when not.

    Textual's checkbox draws an X in both states and distinguishes them by colour alone, so
    in monochrome an unchecked box reads as ticked.
    """

    @property
    def _button(self) -> Content:
        # NOTE: overrides a private property of Textual's ToggleButton (Textual 8.2).
        self.BUTTON_INNER = "✓" if self.value else " "
        return super()._button
