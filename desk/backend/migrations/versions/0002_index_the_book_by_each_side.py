"""Index the active book by from_token and by to_token.

A book page filtered by one side of the pair otherwise walks every active offer when few of
them match.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_trades_book_from", "trades", ["status", "from_token", "id"])
    op.create_index("ix_trades_book_to", "trades", ["status", "to_token", "id"])


def downgrade() -> None:
    op.drop_index("ix_trades_book_to", table_name="trades")
    op.drop_index("ix_trades_book_from", table_name="trades")
