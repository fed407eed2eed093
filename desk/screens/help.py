"""The keys screen, and the one list of bindings it shares with the command palette.

The footer shows a screen's active bindings; ``screen_bindings`` reads the same active
bindings, so the help screen and the command palette list exactly what the keys do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widgets import Label, Static

from desk.screens.base import DeskModal


@dataclass(frozen=True)
class KeyEntry:
    """One action and every key bound to it on a screen."""

    node: DOMNode
    action: str
    description: str
    help: str
    key_display: str
    everywhere: bool


def screen_bindings(screen: Screen[Any]) -> list[KeyEntry]:
    """Return the actions the keys of ``screen`` run, with their keys, in binding order.

    Only the desk's bindings (those with an id) of the screen itself or the app are listed,
    and the command palette's; keys that widgets bind for their own use (a table's cursor
    keys) are left to the widgets.
    """
    app = screen.app
    entries: dict[tuple[int, str], dict[str, Any]] = {}
    for active in screen.active_bindings.values():
        binding: Binding = active.binding
        node = active.node
        if not binding.description or binding.system:
            continue
        if binding.id is None and binding.action != "command_palette":
            continue  # Textual's own focus and copy keys, which every screen has
        if not isinstance(node, (Screen, App)):
            continue
        display = binding.key_display or app.get_key_display(binding)
        entry = entries.setdefault((id(node), binding.action), {
            "node": node, "action": binding.action, "description": binding.description,
            "help": binding.tooltip or binding.description, "keys": [],
            "everywhere": isinstance(node, App),
        })
        if display not in entry["keys"]:
            entry["keys"].append(display)
    return [
        KeyEntry(node=entry["node"], action=entry["action"], description=entry["description"],
                 help=entry["help"], key_display=", ".join(entry["keys"]),
                 everywhere=entry["everywhere"])
        for entry in entries.values()
    ]


def keys_table(entries: list[KeyEntry], title: str) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", box=None,
                  padding=(0, 1), expand=True, show_header=False)
    table.add_column("key", style="bold", no_wrap=True, width=8)
    table.add_column("action", no_wrap=True, width=14)
    table.add_column("what it does", ratio=1, overflow="fold")
    for entry in entries:
        table.add_row(entry.key_display, entry.description, Text(entry.help, style="dim"))
    return table


class HelpScreen(DeskModal):
    """Every key of the screen it was opened over, and the keys that work everywhere."""

    BINDINGS: ClassVar[list[Any]] = [
        Binding("question_mark", "close", "Close", show=False, id="help.close",
                tooltip="Close the list of keys"),
    ]

    def __init__(self, over: Screen[Any]) -> None:
        super().__init__()
        self.entries = screen_bindings(over)
        self.over_title = getattr(over, "SECTION", "") or type(over).__name__

    def compose(self) -> ComposeResult:
        here = [entry for entry in self.entries if not entry.everywhere]
        everywhere = [entry for entry in self.entries if entry.everywhere]
        with VerticalScroll(classes="dialog", id="help"):
            yield Label("Keys", classes="dialog-title")
            yield Static(keys_table(here, "On this screen"))
            yield Static(keys_table(everywhere, "Everywhere"))
            yield Static(Text("ctrl+p opens the command palette with the same actions by "
                              "name. Escape closes this list.", style="dim"))
