"""A bare Textual app: the baseline that the desk's start-up is compared with.

It draws one line of text and waits for ctrl+q, nothing else.
"""

from textual.app import App, ComposeResult
from textual.widgets import Static

READY = "bare app ready for input"


class BareApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Static(READY)


if __name__ == "__main__":
    BareApp().run()
