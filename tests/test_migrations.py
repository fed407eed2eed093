"""Alembic migrations on SQLite and PostgreSQL: upgrade, downgrade, and no drift from models."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from desk.backend import Market, MarketConfig
from desk.backend.audit import audit
from desk.backend.models import Base
from desk.backend.schema import current_revision, downgrade, head_revision, upgrade
from desk.backend.store import Database
from tests.conftest import DATABASE_KINDS, SECRET
from tests.postgres import PostgresServer

TABLES = {table.name for table in Base.metadata.sorted_tables}
# The tables of revision 0001, which a database made before migrations existed has.
INITIAL_TABLES = {"token_types", "users", "balances", "conversions", "ledger_entries",
                  "market_prices", "price_history", "trades"}


@pytest.fixture(params=DATABASE_KINDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'empty.db'}")
        yield database
        database.dispose()
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.create()
    database = Database(url)
    yield database
    database.dispose()
    server.drop(url)


def tables(database: Database) -> set[str]:
    with database.read() as connection:
        return set(inspect(connection).get_table_names()) - {"alembic_version"}


def revision(database: Database) -> str | None:
    with database.read() as connection:
        return current_revision(connection)


def test_upgrade_from_empty(empty_database: Database) -> None:
    upgrade(empty_database)
    assert tables(empty_database) == TABLES
    assert revision(empty_database) == head_revision()


def test_downgrade_then_upgrade(empty_database: Database) -> None:
    upgrade(empty_database)
    downgrade(empty_database, "base")
    assert tables(empty_database) == set()
    assert revision(empty_database) is None

    upgrade(empty_database)
    assert tables(empty_database) == TABLES
    market = Market(empty_database, MarketConfig(secret_key=SECRET, bcrypt_rounds=4))
    assert market.initialise()  # the seed fits the migrated schema
    assert all(check.passed for check in audit(empty_database))


def test_upgrade_twice_is_harmless(empty_database: Database) -> None:
    upgrade(empty_database)
    upgrade(empty_database)
    assert revision(empty_database) == head_revision()


def test_models_match_migrations(empty_database: Database) -> None:
    upgrade(empty_database)
    with empty_database.read() as connection, warnings.catch_warnings():
        # SQLite cannot reflect expression indexes; PostgreSQL compares them.
        warnings.filterwarnings("ignore", message=".*expression-based index.*")
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_unversioned_schema_is_adopted(empty_database: Database) -> None:
    initial = [table for table in Base.metadata.sorted_tables if table.name in INITIAL_TABLES]
    Base.metadata.create_all(empty_database.engine, tables=initial)
    upgrade(empty_database)
    assert revision(empty_database) == head_revision()
    assert tables(empty_database) == TABLES
