"""Bringing a database's schema up to date with the Alembic migrations shipped in the package."""

from __future__ import annotations

import functools
import logging
from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, inspect, text

from desk.backend.errors import DeskError
from desk.backend.store import Database

log = logging.getLogger(__name__)

INITIAL_REVISION = "0001"
# Any fixed number: PostgreSQL advisory lock taken while migrating, so that two servers
# starting at once on one database migrate one after the other.
MIGRATION_LOCK_ID = 727_001


def alembic_config(url: str | None = None) -> Config:
    """Return an Alembic configuration for the migrations inside the installed package."""
    config = Config()
    config.set_main_option("script_location",
                           str(resources.files("desk.backend").joinpath("migrations")))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


@functools.cache
def head_revision() -> str | None:
    """Return the newest revision shipped in the package."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(database: Database, revision: str = "head") -> None:
    """Migrate the database to ``revision`` inside one write transaction.

    On SQLite the write transaction's immediate lock, and on PostgreSQL an advisory lock,
    make concurrent callers wait for each other; the later ones find nothing to do.
    """
    with database.write() as connection:
        if database.dialect == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"),
                               {"id": MIGRATION_LOCK_ID})
        _adopt_unversioned(connection)
        before = current_revision(connection)
        if revision == "head" and before == head_revision():
            return
        if before is not None and not _is_known(before):
            # A newer release migrated this database, as in a rolling upgrade.
            raise DeskError(
                f"the database {database.location} has schema revision {before}, which this "
                f"version of desk does not know (its newest is {head_revision()}); run a "
                "version of desk at least as new as the one that migrated the database")
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        after = current_revision(connection)
    if before != after:
        log.info("migrated %s from revision %s to %s", database.location, before, after)


def downgrade(database: Database, revision: str) -> None:
    """Migrate the database down to ``revision`` ("base" removes every table)."""
    with database.write() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def _is_known(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


def _adopt_unversioned(connection: Connection) -> None:
    """Stamp a database made before migrations existed with the initial revision."""
    tables = set(inspect(connection).get_table_names())
    if "users" in tables and "alembic_version" not in tables:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.stamp(config, INITIAL_REVISION)
        log.info("stamped an unversioned schema as revision %s", INITIAL_REVISION)
