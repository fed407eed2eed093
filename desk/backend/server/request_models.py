"""Request bodies of the REST API.

These models check only the JSON shape: which fields exist and their JSON types. The market
checks the values themselves (known token types, positive amounts within the asset's
precision, password length), so both backends reject bad values with the same messages.
Unknown fields are rejected, so that a misspelt field name is reported instead of ignored.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictInt,
    StrictStr,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from desk.backend.money import ASSETS, MAX_AMOUNT, MAX_NUMBER_LENGTH


def _exact_number(value: object) -> Decimal | int | str:
    # Exact JSON parsing turns fractions into Decimal; a bool is a JSON true or false.
    if isinstance(value, (str, Decimal)):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise PydanticCustomError("exact_number", "Input should be a number or a decimal string")


ExactNumber = Annotated[
    Decimal | int | str,
    PlainValidator(_exact_number),
    WithJsonSchema({
        "anyOf": [
            {"type": "string", "maxLength": MAX_NUMBER_LENGTH, "examples": ["250.5"]},
            {"type": "number", "exclusiveMinimum": 0, "maximum": float(MAX_AMOUNT)},
        ],
        "description": "A decimal number as a string (preferred) or a JSON number. A JSON "
        "number is taken exactly as written, never rounded through a binary float.",
    }),
]
"""An amount or rate as sent: the market parses and checks its value."""

TokenType = Annotated[
    StrictStr,
    Field(json_schema_extra={"enum": list(ASSETS)}, examples=["OpenAI"]),
]
"""The name of an asset; the market rejects names it does not know."""


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegisterRequest(RequestModel):
    """A new trader account."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"username": "alice", "email": "alice@example.com", "password": "correct-horse"},
    ]})

    username: StrictStr = Field(
        description="3 to 32 characters: letters, digits, '.', '_' or '-', starting with a "
        "letter or digit; unique, ignoring case")
    email: StrictStr = Field(description="an email address, unique ignoring case; stored "
                             "in lower case")
    password: StrictStr = Field(
        description="at least 6 characters and at most 72 bytes in UTF-8 (bcrypt's limit)")


class LoginRequest(RequestModel):
    """The credentials of a login, sent as JSON."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"username": "demo", "password": "demo123"},
    ]})

    username: StrictStr
    password: StrictStr


class LoginForm(RequestModel):
    """The credentials of a login, sent as an OAuth2 password grant form (RFC 6749, 4.3)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"grant_type": "password", "username": "demo", "password": "demo123"},
    ]})

    grant_type: StrictStr | None = Field(None, pattern="^password$")
    username: StrictStr
    password: StrictStr
    scope: StrictStr = Field("", description="ignored: every session has the same rights")
    client_id: StrictStr | None = Field(None, description="ignored")
    client_secret: StrictStr | None = Field(None, description="ignored")


class CreateTradeRequest(RequestModel):
    """A new offer: ``amount`` of ``from_token`` for ``exchange_rate`` ``to_token`` per unit."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"from_token": "OpenAI", "to_token": "Anthropic", "amount": "250.5",
         "exchange_rate": "0.8"},
    ]})

    from_token: TokenType
    to_token: TokenType = Field(description="must differ from from_token")
    amount: ExactNumber = Field(
        description="units of from_token to offer, held until the offer is taken or "
        "cancelled; positive, at most 10^12, at most the asset's decimal places (6 for AI "
        "tokens, 8 for BTC)")
    exchange_rate: ExactNumber = Field(
        description="units of to_token the taker pays per unit of from_token; positive, at "
        "most 10 decimal places")


class TradeIdRequest(RequestModel):
    """The trade to execute or cancel."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"trade_id": 42}]})

    trade_id: StrictInt = Field(description="id of an active trade")


class ConvertRequest(RequestModel):
    """A conversion at the market price against the house account."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"from_token": "OpenAI", "to_token": "BTC", "amount": "100"},
    ]})

    from_token: TokenType
    to_token: TokenType = Field(description="must differ from from_token")
    amount: ExactNumber = Field(
        description="units of from_token to sell; positive, at most 10^12, at most the "
        "asset's decimal places")
