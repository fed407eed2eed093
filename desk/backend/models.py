"""SQLAlchemy models of the marketplace: users, balances, trades, the ledger and prices.

Amounts are integer counts of the asset's smallest unit (see ``desk.backend.money``), so that
SQL can add and compare them exactly on every database. Check constraints keep every balance
non-negative even if a bug in the service slipped past its own checks.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from desk.backend.money import PRICE_PLACES, RATE_PLACES
from desk.backend.types import ExactDecimal, UTCDateTime

USD_PLACES = 8
# The largest row id: ids are INTEGER columns, 32-bit on PostgreSQL. A larger id in a request
# names no row, and PostgreSQL would fail the query on it rather than find nothing.
MAX_ID = 2**31 - 1

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    """A trader, or the house account that is the market's own counterparty."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(32))
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(8), default="trader")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint("kind IN ('trader', 'house')", name="kind"),
        Index("ix_users_username_lower", func.lower(username), unique=True),
        Index("ix_users_email_lower", func.lower(email), unique=True),
    )


class TokenType(Base):
    """An asset of the market: an AI provider's credit or BTC."""

    __tablename__ = "token_types"

    token_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    description: Mapped[str] = mapped_column(String(200))
    places: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)


class Balance(Base):
    """One account's holding of one asset, in the asset's smallest unit.

    ``balance`` is the total owned; ``held`` is the part escrowed by the account's active
    offers, so the available amount is ``balance - held``.
    """

    __tablename__ = "balances"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    token_type: Mapped[str] = mapped_column(ForeignKey("token_types.token_type"), primary_key=True)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    held: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (
        CheckConstraint("held >= 0", name="held_not_negative"),
        CheckConstraint("balance >= held", name="balance_covers_held"),
    )


class Trade(Base):
    """A peer-to-peer offer: ``amount`` of ``from_token`` for ``exchange_rate`` per unit."""

    __tablename__ = "trades"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    from_token: Mapped[str] = mapped_column(ForeignKey("token_types.token_type"))
    to_token: Mapped[str] = mapped_column(ForeignKey("token_types.token_type"))
    amount: Mapped[int] = mapped_column(BigInteger)
    exchange_rate: Mapped[Decimal] = mapped_column(ExactDecimal(RATE_PLACES))
    status: Mapped[str] = mapped_column(String(10), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # When the offer left the book, by execution or by cancellation.
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    executor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)

    __table_args__ = (
        CheckConstraint("status IN ('active', 'completed', 'cancelled')", name="status"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("from_token <> to_token", name="distinct_tokens"),
        # The book, oldest first: whole, by pair, by either side alone, and one creator's.
        # Without its own index a one-side filter walks the whole book when it matches little.
        Index("ix_trades_book", "status", "id"),
        Index("ix_trades_book_pair", "status", "from_token", "to_token", "id"),
        Index("ix_trades_book_from", "status", "from_token", "id"),
        Index("ix_trades_book_to", "status", "to_token", "id"),
        Index("ix_trades_creator_book", "creator_id", "status", "id"),
        Index("ix_trades_creator_closed", "creator_id", "completed_at", "id"),
        Index("ix_trades_executor_closed", "executor_id", "completed_at", "id"),
    )


class Conversion(Base):
    """A conversion at market price against the house account."""

    __tablename__ = "conversions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    from_token: Mapped[str] = mapped_column(ForeignKey("token_types.token_type"))
    to_token: Mapped[str] = mapped_column(ForeignKey("token_types.token_type"))
    amount: Mapped[int] = mapped_column(BigInteger)
    received: Mapped[int] = mapped_column(BigInteger)
    price_btc: Mapped[Decimal] = mapped_column(ExactDecimal(PRICE_PLACES))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LedgerEntry(Base):
    """One signed change of one account's balance of one asset; rows are never updated."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    token_type: Mapped[str] = mapped_column(ForeignKey("token_types.token_type"))
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        Index("ix_ledger_entries_account", "user_id", "id"),
        Index("ix_ledger_entries_reference", "reference"),
    )


class MarketPrice(Base):
    """The current market price of an asset."""

    __tablename__ = "market_prices"

    token_type: Mapped[str] = mapped_column(ForeignKey("token_types.token_type"), primary_key=True)
    price_btc: Mapped[Decimal] = mapped_column(ExactDecimal(PRICE_PLACES))
    price_usd: Mapped[Decimal] = mapped_column(ExactDecimal(USD_PLACES))
    last_updated: Mapped[datetime] = mapped_column(UTCDateTime())


class PricePoint(Base):
    """A past price of an asset, kept for charts."""

    __tablename__ = "price_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_type: Mapped[str] = mapped_column(ForeignKey("token_types.token_type"))
    price_btc: Mapped[Decimal] = mapped_column(ExactDecimal(PRICE_PLACES))
    price_usd: Mapped[Decimal] = mapped_column(ExactDecimal(USD_PLACES))
    at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_price_history_token", "token_type", "id"),)


class IdempotencyKey(Base):
    """The stored outcome of a request sent with an ``Idempotency-Key``, per user and key.

    The row is written in the same transaction as the action it guards, so the two are
    committed together or not at all. ``outcome`` is JSON: the result, or the domain error
    the market raised. It is NULL only inside that transaction, before the action finishes.
    """

    __tablename__ = "idempotency_keys"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    operation: Mapped[str] = mapped_column(String(32))
    # SHA-256 of the operation and its arguments as sent, in hexadecimal.
    fingerprint: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_idempotency_keys_created_at", "created_at"),)



class LoginAttempt(Base):
    """A failed login, or one still checking its password, counted by the login throttle.

    A successful login deletes its own row, so the rows older than a moment are failures.
    ``username`` is lowercased; ``address`` is the client's IP address, NULL in process.
    """

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_login_attempts_username", "username", "at"),
        Index("ix_login_attempts_address", "address", "at"),
        Index("ix_login_attempts_at", "at"),
    )
