"""The market database: what its errors reveal."""

from __future__ import annotations

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from desk.backend.models import User
from desk.backend.store import Database
from tests.support import START


def test_error_hides_parameters(db_url: str) -> None:
    # The server logs database errors, and a failed insert of a user carries the hash.
    database = Database(db_url)
    password_hash = "$2b$04$secret-hash-that-must-not-be-logged"
    try:
        with pytest.raises(IntegrityError) as raised, database.write() as connection:
            connection.execute(insert(User).values(
                username="demo", email="demo-again@example.com", password_hash=password_hash,
                kind="trader", created_at=START))
    finally:
        database.dispose()

    assert password_hash not in str(raised.value)
    assert "demo-again@example.com" not in str(raised.value)
