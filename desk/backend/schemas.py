"""Pydantic models that every backend returns, and that the REST API sends as JSON.

Amounts, rates and prices are ``Decimal`` in Python and strings in JSON, written with the
fixed number of places of their asset (``"12.500000"``), never as binary floats.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer


def _decimal_text(value: Decimal) -> str:
    return f"{value:f}"


Money = Annotated[
    Decimal,
    PlainSerializer(_decimal_text, return_type=str, when_used="json"),
    Field(json_schema_extra={"type": "string", "format": "decimal"}),
]
"""An exact decimal that JSON carries as a string such as ``"12.500000"``."""

TradeStatus = Literal["active", "completed", "cancelled"]


class Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class User(Model):
    """A registered trader; the password hash never leaves the backend."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": 7, "username": "alice", "email": "alice@example.com",
         "created_at": "2026-01-15T09:30:00Z"},
    ]})

    id: int
    username: str
    email: str
    created_at: datetime


class Session(Model):
    """A login session: the bearer token and how many seconds it stays valid."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI3In0.c2lnbmF0dXJl",
         "token_type": "bearer", "expires_in": 28800},
    ]})

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class TokenInfo(Model):
    """An asset of the market and what it is."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"token_type": "OpenAI", "description": "API credits for OpenAI models such as GPT"},
    ]})

    token_type: str
    description: str


class Balance(Model):
    """One asset held by the caller: total ``balance`` = ``held`` in offers + ``available``."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"token_type": "OpenAI", "balance": "1000.000000", "held": "250.500000",
         "available": "749.500000"},
    ]})

    token_type: str
    balance: Money
    held: Money
    available: Money


class Portfolio(Model):
    """All of the caller's balances, with their total value at current market prices."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "balances": [
            {"token_type": "OpenAI", "balance": "1000.000000", "held": "250.500000",
             "available": "749.500000"},
            {"token_type": "BTC", "balance": "0.01000000", "held": "0.00000000",
             "available": "0.01000000"},
        ],
        "total_btc": "0.02015228",
        "total_usd": "1985.00",
    }]})

    balances: list[Balance]
    total_btc: Money
    total_usd: Money


class LedgerEntry(Model):
    """One signed change of the caller's balance, with why it happened."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": 118, "token_type": "Anthropic", "amount": "-200.400000", "reason": "trade_paid",
         "reference": "trade:42", "created_at": "2026-01-15T09:41:12Z"},
    ]})

    id: int
    token_type: str
    amount: Money
    reason: str
    reference: str
    created_at: datetime


class LedgerPage(Model):
    """A page of ledger entries, newest first; ``next_cursor`` is null on the last page."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "entries": [
            {"id": 118, "token_type": "Anthropic", "amount": "-200.400000",
             "reason": "trade_paid", "reference": "trade:42",
             "created_at": "2026-01-15T09:41:12Z"},
        ],
        "next_cursor": "WzExOF0",
    }]})

    entries: list[LedgerEntry]
    next_cursor: str | None


class Trade(Model):
    """An offer: ``amount`` of ``from_token`` for ``exchange_rate`` ``to_token`` per unit.

    ``completed_at`` is when the offer left the book, by execution or cancellation.
    """

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 42, "creator_id": 7, "from_token": "OpenAI", "to_token": "Anthropic",
        "amount": "250.500000", "exchange_rate": "0.8000000000", "status": "completed",
        "created_at": "2026-01-15T09:30:00Z", "completed_at": "2026-01-15T09:41:12Z",
        "executor_id": 9,
    }]})

    id: int
    creator_id: int
    from_token: str
    to_token: str
    amount: Money
    exchange_rate: Money
    status: TradeStatus
    created_at: datetime
    completed_at: datetime | None
    executor_id: int | None


class TradePage(Model):
    """A page of trades; ``next_cursor`` is null on the last page."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "trades": [{
            "id": 42, "creator_id": 7, "from_token": "OpenAI", "to_token": "Anthropic",
            "amount": "250.500000", "exchange_rate": "0.8000000000", "status": "completed",
            "created_at": "2026-01-15T09:30:00Z", "completed_at": "2026-01-15T09:41:12Z",
            "executor_id": 9,
        }],
        "next_cursor": None,
    }]})

    trades: list[Trade]
    next_cursor: str | None


class Price(Model):
    """The current market price of one asset in BTC and USD."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"token_type": "OpenAI", "price_btc": "0.000010152284", "price_usd": "1.00000000",
         "last_updated": "2026-01-15T09:30:00Z"},
    ]})

    token_type: str
    price_btc: Money
    price_usd: Money
    last_updated: datetime


class PricePoint(Model):
    """One past price of an asset."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"price_btc": "0.000010152284", "price_usd": "1.00000000", "at": "2026-01-15T09:30:00Z"},
    ]})

    price_btc: Money
    price_usd: Money
    at: datetime


class Conversion(Model):
    """The result of a conversion at market price.

    ``price_btc`` is the BTC price of the AI token side used for the conversion (of
    ``from_token`` when both sides are AI tokens).
    """

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"from_token": "OpenAI", "to_token": "BTC", "amount": "100.000000",
         "received": "0.00101522", "price_btc": "0.000010152284"},
    ]})

    from_token: str
    to_token: str
    amount: Money
    received: Money
    price_btc: Money
