"""Create the market schema.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from desk.backend.types import ExactDecimal, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "token_types",
        sa.Column("token_type", sa.String(length=16), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("places", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("token_type", name=op.f("pk_token_types")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('trader', 'house')", name=op.f("ck_users_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    # Case-insensitive uniqueness; autogenerate cannot compare expression indexes on SQLite.
    op.create_index("ix_users_username_lower", "users", [sa.text("lower(username)")],
                    unique=True)
    op.create_index("ix_users_email_lower", "users", [sa.text("lower(email)")], unique=True)
    op.create_table(
        "balances",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_type", sa.String(length=16), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("held", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("balance >= held", name=op.f("ck_balances_balance_covers_held")),
        sa.CheckConstraint("held >= 0", name=op.f("ck_balances_held_not_negative")),
        sa.ForeignKeyConstraint(["token_type"], ["token_types.token_type"],
                                name=op.f("fk_balances_token_type_token_types")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_balances_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", "token_type", name=op.f("pk_balances")),
    )
    op.create_table(
        "conversions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("from_token", sa.String(length=16), nullable=False),
        sa.Column("to_token", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("price_btc", ExactDecimal(places=12), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["from_token"], ["token_types.token_type"],
                                name=op.f("fk_conversions_from_token_token_types")),
        sa.ForeignKeyConstraint(["to_token"], ["token_types.token_type"],
                                name=op.f("fk_conversions_to_token_token_types")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_conversions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversions")),
    )
    op.create_index(op.f("ix_conversions_user_id"), "conversions", ["user_id"])
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_type", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_ledger_entries_amount_not_zero")),
        sa.ForeignKeyConstraint(["token_type"], ["token_types.token_type"],
                                name=op.f("fk_ledger_entries_token_type_token_types")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_ledger_entries_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    op.create_index("ix_ledger_entries_account", "ledger_entries", ["user_id", "id"])
    op.create_index("ix_ledger_entries_reference", "ledger_entries", ["reference"])
    op.create_table(
        "market_prices",
        sa.Column("token_type", sa.String(length=16), nullable=False),
        sa.Column("price_btc", ExactDecimal(places=12), nullable=False),
        sa.Column("price_usd", ExactDecimal(places=8), nullable=False),
        sa.Column("last_updated", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["token_type"], ["token_types.token_type"],
                                name=op.f("fk_market_prices_token_type_token_types")),
        sa.PrimaryKeyConstraint("token_type", name=op.f("pk_market_prices")),
    )
    op.create_table(
        "price_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_type", sa.String(length=16), nullable=False),
        sa.Column("price_btc", ExactDecimal(places=12), nullable=False),
        sa.Column("price_usd", ExactDecimal(places=8), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["token_type"], ["token_types.token_type"],
                                name=op.f("fk_price_history_token_type_token_types")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_history")),
    )
    op.create_index("ix_price_history_token", "price_history", ["token_type", "id"])
    op.create_table(
        "trades",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("creator_id", sa.Integer(), nullable=False),
        sa.Column("from_token", sa.String(length=16), nullable=False),
        sa.Column("to_token", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("exchange_rate", ExactDecimal(places=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("executor_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("status IN ('active', 'completed', 'cancelled')",
                           name=op.f("ck_trades_status")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_trades_amount_positive")),
        sa.CheckConstraint("from_token <> to_token", name=op.f("ck_trades_distinct_tokens")),
        sa.ForeignKeyConstraint(["creator_id"], ["users.id"],
                                name=op.f("fk_trades_creator_id_users")),
        sa.ForeignKeyConstraint(["executor_id"], ["users.id"],
                                name=op.f("fk_trades_executor_id_users")),
        sa.ForeignKeyConstraint(["from_token"], ["token_types.token_type"],
                                name=op.f("fk_trades_from_token_token_types")),
        sa.ForeignKeyConstraint(["to_token"], ["token_types.token_type"],
                                name=op.f("fk_trades_to_token_token_types")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trades")),
    )
    op.create_index("ix_trades_book", "trades", ["status", "id"])
    op.create_index("ix_trades_book_pair", "trades", ["status", "from_token", "to_token", "id"])
    op.create_index("ix_trades_creator_book", "trades", ["creator_id", "status", "id"])
    op.create_index("ix_trades_creator_closed", "trades", ["creator_id", "completed_at", "id"])
    op.create_index("ix_trades_executor_closed", "trades",
                    ["executor_id", "completed_at", "id"])


def downgrade() -> None:
    for table in ("trades", "price_history", "market_prices", "ledger_entries", "conversions",
                  "balances", "users", "token_types"):
        op.drop_table(table)
