"""The new-offer dialog: post an offer from the checked form, errors shown on their fields."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Label, Select, Static

from desk.backend.errors import DeskError, InvalidInput, Unauthenticated, Unavailable
from desk.formatting import market_message
from desk.screens.base import DeskModal
from desk.screens.dialog_parts import FORM_ROWS, failure_text
from desk.widgets.field import Field
from desk.widgets.form import FormRow
from desk.widgets.offer_form import OfferForm

if TYPE_CHECKING:
    from desk.backend.schemas import Trade


class NewOfferDialog(DeskModal):
    """Post an offer; dismisses with the new trade, or None when closed without posting."""

    # Focused as the dialog is composed, before it is first drawn, so no typing is lost.
    AUTO_FOCUS = "#offer-amount"
    BINDINGS: ClassVar[list[Any]] = [
        Binding("ctrl+s", "post", "Post offer", id="offer.post", priority=True,
                tooltip="Post the offer as entered"),
    ]

    ERROR_TITLES: ClassVar[dict[str, str]] = {
        "offer-balances": "Balances not loaded",
        "offer-post": "Offer not posted",
    }
    ACTION_GROUPS: ClassVar[frozenset[str]] = frozenset({"offer-post"})

    class BalancesLoaded(Message):
        def __init__(self, available: dict[str, Decimal]) -> None:
            super().__init__()
            self.available = available

    class Posted(Message):
        def __init__(self, trade: Trade) -> None:
            super().__init__()
            self.trade = trade

    class Rejected(Message):
        def __init__(self, message: str, field: str | None) -> None:
            super().__init__()
            self.message = message
            self.field = field

    def __init__(self, from_token: str = "OpenAI", to_token: str = "Anthropic") -> None:
        super().__init__()
        self.form = OfferForm(from_token, to_token)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="new-offer"):
            yield Label("New offer", classes="dialog-title")
            yield self.form
            yield Static("", id="offer-status", classes="form-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Post offer", id="post", variant="primary", compact=True)

    def on_mount(self) -> None:
        self._load_balances()

    @work(thread=True, group="offer-balances", exit_on_error=False)
    def _load_balances(self) -> None:
        portfolio = self.app.backend().balances()
        available = {balance.token_type: balance.available for balance in portfolio.balances}
        self.post_message(self.BalancesLoaded(available))

    def on_new_offer_dialog_balances_loaded(self, event: BalancesLoaded) -> None:
        self.form.set_available(event.available)

    @on(Select.Changed)
    @on(Field.Changed)
    def _fields_changed(self) -> None:
        # The form checked the fields first; an error about an earlier try is out of date
        # once they are all valid.
        status = self.query_one("#offer-status", Static)
        if self.form.draft is not None and status.has_class("-error"):
            status.remove_class("-error")
            status.update("")

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.action_close()

    @on(Button.Pressed, "#post")
    def _post_pressed(self) -> None:
        self.action_post()

    @on(Field.Submitted, "#offer-rate")
    def _rate_submitted(self) -> None:
        self.action_post()

    @on(Field.Submitted, "#offer-amount")
    def _amount_submitted(self) -> None:
        self.query_one("#offer-rate", Field).focus()

    def action_post(self) -> None:
        if self.pending:
            return
        draft = self.form.check(submitting=True)
        status = self.query_one("#offer-status", Static)
        if draft is None:
            status.add_class("-error")
            status.update("✗ Fix the fields marked above first.")
            return
        status.remove_class("-error")
        status.update("Posting…")
        self.pending = "Posting the offer"
        self.query_one("#post", Button).disabled = True
        self._post(draft.from_token, draft.to_token, draft.amount, draft.exchange_rate)

    @work(thread=True, group="offer-post", exclusive=True, exit_on_error=False)
    def _post(self, from_token: str, to_token: str, amount: Decimal, rate: Decimal) -> None:
        try:
            trade = self.app.backend().create_offer(from_token, to_token, amount, rate)
        except DeskError as error:
            if isinstance(error, (Unauthenticated, Unavailable)):
                raise  # the app's handler returns to login or shows the banner
            field = error.field if isinstance(error, InvalidInput) else None
            self.post_message(self.Rejected(error.message, field))
            return
        self.post_message(self.Posted(trade))

    def worker_failed(self, group: str, error: BaseException | None) -> bool:
        # The app's handler notifies as well; the form keeps its fields for another try.
        if group == "offer-post":
            self.pending = ""
            self.query_one("#post", Button).disabled = False
            status = self.query_one("#offer-status", Static)
            status.add_class("-error")
            status.update(f"✗ Not posted: {failure_text(error)}")
        elif group == "offer-balances":
            self.form.set_available_failed(failure_text(error))
        return False

    def on_new_offer_dialog_rejected(self, event: Rejected) -> None:
        self.pending = ""
        self.query_one("#post", Button).disabled = False
        status = self.query_one("#offer-status", Static)
        status.add_class("-error")
        row = FORM_ROWS.get(event.field or "")
        if row:
            reason = market_message(event.message.split(": ", 1)[-1], as_sentence=False)
            self.query_one(f"#row-{row}", FormRow).show_error(reason)
            status.update("✗ The market rejected the offer; see the field marked above.")
        else:
            status.update(f"✗ {market_message(event.message)}")

    def on_new_offer_dialog_posted(self, event: Posted) -> None:
        self.pending = ""
        self.dismiss(event.trade)
