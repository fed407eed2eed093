"""The convert dialog: sell one asset to the market for another at the current price."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Label, Select, Static

from desk.backend.conversion import quote
from desk.backend.errors import DeskError, InvalidInput, NotFound, Unauthenticated, Unavailable
from desk.backend.money import ASSETS, BTC, parse_amount
from desk.formatting import (
    amount_text,
    btc_price_text,
    market_message,
    without_thousands_separators,
)
from desk.screens.base import DeskModal
from desk.screens.dialog_parts import FORM_ROWS, failure_text
from desk.widgets.field import Field
from desk.widgets.form import FormRow

if TYPE_CHECKING:
    from desk.backend.schemas import Conversion


class ConvertDialog(DeskModal):
    """Convert at the market price; dismisses with the conversion, or None when closed.

    The preview uses the desk's latest prices; the market converts at its price of the moment,
    which the result notification reports.
    """

    # Focused as the dialog is composed, before it is first drawn, so no typing is lost.
    AUTO_FOCUS = "#convert-amount"
    BINDINGS: ClassVar[list[Any]] = [
        Binding("ctrl+s", "convert", "Convert", id="convert.go", priority=True,
                tooltip="Convert the amount entered"),
    ]

    ERROR_TITLES: ClassVar[dict[str, str]] = {
        "convert-balances": "Balances not loaded",
        "convert": "Not converted",
    }
    ACTION_GROUPS: ClassVar[frozenset[str]] = frozenset({"convert"})

    class BalancesLoaded(Message):
        def __init__(self, available: dict[str, Decimal]) -> None:
            super().__init__()
            self.available = available

    class Converted(Message):
        def __init__(self, conversion: Conversion) -> None:
            super().__init__()
            self.conversion = conversion

    class Rejected(Message):
        def __init__(self, message: str, field: str | None) -> None:
            super().__init__()
            self.message = message
            self.field = field

    def __init__(self, from_token: str = "OpenAI", to_token: str | None = None) -> None:
        super().__init__()
        self.from_token = from_token
        self.to_token = to_token or ("OpenAI" if from_token == BTC else BTC)
        self.available: dict[str, Decimal] = {}
        self.available_failure = ""

    def compose(self) -> ComposeResult:
        options = [(asset, asset) for asset in ASSETS]
        with Vertical(classes="dialog", id="convert"):
            yield Label("Convert at the market price", classes="dialog-title")
            yield FormRow("From", Select(options, value=self.from_token, allow_blank=False,
                                         compact=True, id="convert-from"), id="row-from")
            yield FormRow("Amount", Field(placeholder="how much to sell", compact=True,
                                          id="convert-amount"), id="row-amount")
            yield FormRow("To", Select(options, value=self.to_token, allow_blank=False,
                                       compact=True, id="convert-to"), id="row-to")
            yield Static("", id="convert-preview")
            yield Static("", id="convert-status", classes="form-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Convert", id="go", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.watch(self.app, "prices", self._prices_changed)
        self.watch(self.app, "connection_problem", self._prices_changed, init=False)
        self.watch(self.app, "stream_state", self._prices_changed, init=False)
        self._load_balances()

    def _prices_changed(self, _: object) -> None:
        self.check()

    @work(thread=True, group="convert-balances", exit_on_error=False)
    def _load_balances(self) -> None:
        portfolio = self.app.backend().balances()
        available = {balance.token_type: balance.available for balance in portfolio.balances}
        self.post_message(self.BalancesLoaded(available))

    def on_convert_dialog_balances_loaded(self, event: BalancesLoaded) -> None:
        self.available = event.available
        self.available_failure = ""
        self.check()

    @on(Select.Changed)
    @on(Field.Changed)
    def _changed(self) -> None:
        # An error about an earlier try is out of date once every field is valid.
        status = self.query_one("#convert-status", Static)
        if self.check() is not None and status.has_class("-error"):
            status.remove_class("-error")
            status.update("")

    def check(self) -> tuple[str, str, Decimal] | None:
        """Check the fields, show errors next to them and preview what would be received."""
        source = self.query_one("#convert-from", Select).value
        target = self.query_one("#convert-to", Select).value
        text = without_thousands_separators(self.query_one("#convert-amount", Field).value)
        if not isinstance(source, str) or not isinstance(target, str):
            return None
        errors: dict[str, str | None] = {"from": None, "to": None, "amount": None}
        amount = None
        if source == target:
            errors["to"] = f"must differ from what you sell; both are {source}"
        if text:
            try:
                amount = parse_amount(text, source)
            except InvalidInput as error:
                errors["amount"] = error.reason
        if amount is not None and source in self.available and amount > self.available[source]:
            errors["amount"] = (f"you have {amount_text(self.available[source], source)} "
                                f"{source} available")

        lines = []
        if source in self.available:
            lines.append(f"Available: {amount_text(self.available[source], source)} {source}")
        elif self.available_failure:
            lines.append(f"Available: not loaded. {self.available_failure}")
        prices = {price.token_type: price for price in self.app.prices}
        received = None
        if amount is not None and not errors["to"]:
            try:
                received, price_btc = quote(amount, source, target, prices)
            except NotFound:
                lines.append("No market price yet; the preview appears when prices arrive.")
            else:
                priced = target if source == BTC else source
                lines.append(f"You receive ≈ {amount_text(received, target)} {target}")
                lines.append(f"at {btc_price_text(price_btc)} BTC per {priced}; the market "
                             "converts at its price of the moment.")
                if self.app.prices_out_of_date:
                    lines.append(f"⚠ This price may be out of date: "
                                 f"{self.app.prices_out_of_date}.")
                if received <= 0:
                    errors["amount"] = f"is worth less than the smallest unit of {target}"
        if amount is None and not errors["amount"]:
            lines.append("Enter an amount to see what you receive.")

        for name, message in errors.items():
            self.query_one(f"#row-{name}", FormRow).show_error(message)
        self.query_one("#convert-preview", Static).update("\n".join(lines))
        if amount is None or any(errors.values()):
            return None
        return source, target, amount

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.action_close()

    @on(Button.Pressed, "#go")
    @on(Field.Submitted, "#convert-amount")
    def _go(self) -> None:
        self.action_convert()

    def action_convert(self) -> None:
        if self.pending:
            return
        checked = self.check()
        status = self.query_one("#convert-status", Static)
        if checked is None:
            status.add_class("-error")
            status.update("✗ Fix the fields marked above first.")
            return
        status.remove_class("-error")
        status.update("Converting…")
        self.pending = "Converting"
        self.query_one("#go", Button).disabled = True
        self._convert(*checked)

    @work(thread=True, group="convert", exclusive=True, exit_on_error=False)
    def _convert(self, source: str, target: str, amount: Decimal) -> None:
        try:
            conversion = self.app.backend().convert(source, target, amount)
        except DeskError as error:
            if isinstance(error, (Unauthenticated, Unavailable)):
                raise  # the app's handler returns to login or shows the banner
            field = error.field if isinstance(error, InvalidInput) else None
            self.post_message(self.Rejected(error.message, field))
            return
        self.post_message(self.Converted(conversion))

    def worker_failed(self, group: str, error: BaseException | None) -> bool:
        # The app's handler notifies as well; the form keeps its fields for another try.
        if group == "convert":
            self.pending = ""
            self.query_one("#go", Button).disabled = False
            status = self.query_one("#convert-status", Static)
            status.add_class("-error")
            status.update(f"✗ Not converted: {failure_text(error)}")
        elif group == "convert-balances":
            self.available_failure = failure_text(error)
            self.check()
        return False

    def on_convert_dialog_rejected(self, event: Rejected) -> None:
        self.pending = ""
        self.query_one("#go", Button).disabled = False
        status = self.query_one("#convert-status", Static)
        status.add_class("-error")
        row = FORM_ROWS.get(event.field or "")
        if row in ("from", "to", "amount"):
            self.query_one(f"#row-{row}", FormRow).show_error(
                market_message(event.message.split(": ", 1)[-1], as_sentence=False))
            status.update("✗ The market rejected the conversion; see the field marked above.")
        else:
            status.update(f"✗ {market_message(event.message)}")

    def on_convert_dialog_converted(self, event: Converted) -> None:
        conversion = event.conversion
        self.app.notify(
            f"Converted {amount_text(conversion.amount, conversion.from_token)} "
            f"{conversion.from_token} to {amount_text(conversion.received, conversion.to_token)} "
            f"{conversion.to_token}.",
            title="Converted",
        )
        self.app.market_changed()
        self.pending = ""
        self.dismiss(conversion)
