"""The new-offer form: from, to, amount and rate, checked as they are typed, with a preview."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Select, Static

from desk.backend.errors import InvalidInput
from desk.backend.money import ASSETS, MAX_AMOUNT, parse_amount, parse_rate
from desk.backend.trading import payment_for
from desk.formatting import amount_text, rate_text, without_thousands_separators
from desk.widgets.field import Field
from desk.widgets.form import FormRow


@dataclass(frozen=True)
class OfferDraft:
    """A checked offer, ready for ``Backend.create_offer``."""

    from_token: str
    to_token: str
    amount: Decimal
    exchange_rate: Decimal

    @property
    def payment(self) -> Decimal:
        """What a taker pays, in ``to_token``."""
        return payment_for(self.amount, self.exchange_rate, self.to_token)


class OfferForm(Vertical):
    """Checks each field on every change with the market's own parsing rules.

    ``draft`` is the offer when every field is valid, else None. ``available`` contains the
    trader's available balance per asset, when known, so the form can warn before the
    market rejects an offer it cannot cover.
    """

    DEFAULT_CSS = """
    OfferForm { height: auto; }
    OfferForm > #offer-preview { height: auto; margin: 1 0 0 0; }
    """

    def __init__(self, from_token: str = "OpenAI", to_token: str = "Anthropic") -> None:
        super().__init__()
        self._from = from_token
        self._to = to_token
        self.available: Mapping[str, Decimal] = {}
        self.available_failure = ""
        self.draft: OfferDraft | None = None

    def compose(self) -> ComposeResult:
        options = [(asset, asset) for asset in ASSETS]
        yield FormRow("You offer", Select(options, value=self._from, allow_blank=False,
                                          compact=True, id="offer-from"), id="row-from")
        yield FormRow("Amount", Field(placeholder=f"how much {self._from}", compact=True,
                                      id="offer-amount"), id="row-amount")
        yield FormRow("You want", Select(options, value=self._to, allow_blank=False,
                                         compact=True, id="offer-to"), id="row-to")
        yield FormRow("Rate", Field(placeholder="units wanted per unit offered",
                                    compact=True, id="offer-rate"), id="row-rate")
        yield Static("", id="offer-preview")

    def on_mount(self) -> None:
        self.check()

    def set_available(self, available: Mapping[str, Decimal]) -> None:
        self.available = available
        self.available_failure = ""
        self.check()

    def set_available_failed(self, reason: str) -> None:
        """Say in the preview why the available balance is missing."""
        self.available_failure = reason
        self.check()

    @on(Select.Changed)
    @on(Field.Changed)
    def _changed(self) -> None:
        self.check()

    def check(self, *, submitting: bool = False) -> OfferDraft | None:
        """Check every field, show each error next to its field and update the preview.

        While the trader types, an empty field is no error; ``submitting`` marks it as one.
        """
        source = self.query_one("#offer-from", Select).value
        target = self.query_one("#offer-to", Select).value
        amount_input = without_thousands_separators(self.query_one("#offer-amount", Field).value)
        rate_input = without_thousands_separators(self.query_one("#offer-rate", Field).value)
        errors: dict[str, str | None] = {"from": None, "to": None, "amount": None, "rate": None}
        amount = rate = None

        if not isinstance(source, str) or not isinstance(target, str):
            self.draft = None
            return None
        self.query_one("#offer-amount", Field).placeholder = f"how much {source}"
        if source == target:
            errors["to"] = f"must differ from what you offer; both are {source}"
        if amount_input:
            try:
                amount = parse_amount(amount_input, source)
            except InvalidInput as error:
                errors["amount"] = error.reason
        elif submitting:
            errors["amount"] = f"enter how much {source} you offer"
        if amount is not None and source in self.available:
            have = self.available[source]
            if amount > have:
                errors["amount"] = (f"you have {amount_text(have, source)} {source} available")
        if rate_input:
            try:
                rate = parse_rate(rate_input)
            except InvalidInput as error:
                errors["rate"] = error.reason
        elif submitting:
            errors["rate"] = f"enter how much {target} you want per {source}"
        payment = None
        if amount is not None and rate is not None and errors["to"] is None:
            payment = payment_for(amount, rate, target)
            if payment <= 0:
                errors["rate"] = f"a taker would pay nothing: it rounds down to 0 {target}"
            elif payment > MAX_AMOUNT:
                errors["rate"] = (f"a taker would pay {amount_text(payment, target)} {target}, "
                                  f"above the maximum of {MAX_AMOUNT:,.0f}")

        for name, message in errors.items():
            self.query_one(f"#row-{name}", FormRow).show_error(message)
        complete = amount is not None and rate is not None and payment is not None
        valid = complete and not any(errors.values())
        self.draft = OfferDraft(source, target, amount, rate) if valid else None  # type: ignore[arg-type]
        self._preview(source, target, amount, rate, payment if valid else None)
        return self.draft

    def _preview(self, source: str, target: str, amount: Decimal | None,
                 rate: Decimal | None, payment: Decimal | None) -> None:
        lines = []
        if source in self.available:
            lines.append(f"Available: {amount_text(self.available[source], source)} {source}")
        elif self.available_failure:
            lines.append(f"Available: not loaded. {self.available_failure}")
        if payment is not None and amount is not None and rate is not None:
            lines.append(f"Holds {amount_text(amount, source)} {source} until taken or "
                         "cancelled.")
            lines.append(f"A taker pays {amount_text(payment, target)} {target} "
                         f"({rate_text(rate)} {target} per {source}).")
        else:
            lines.append("Enter an amount and a rate to see what is held and what a taker "
                         "pays.")
        self.query_one("#offer-preview", Static).update("\n".join(lines))
