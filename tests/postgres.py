"""Throwaway PostgreSQL databases for tests, on the server named by ``DESK_TEST_POSTGRES``."""

from __future__ import annotations

import os
import uuid

import psycopg
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get("DESK_TEST_POSTGRES",
                           "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


class PostgresServer:
    """Creates and drops databases named ``desk_test_*`` on one PostgreSQL server."""

    def __init__(self, admin_url: str = ADMIN_URL) -> None:
        self.url = make_url(admin_url)
        try:
            self._admin = psycopg.connect(self._dsn(self.url.database or "postgres"),
                                          autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as error:
            raise RuntimeError(
                f"PostgreSQL is not reachable at {self.url.render_as_string(hide_password=True)}"
                f": {error}. The PostgreSQL tests need a server; start one or point "
                "DESK_TEST_POSTGRES at one."
            ) from error

    def _dsn(self, database: str) -> str:
        return self.url.set(drivername="postgresql", database=database).render_as_string(
            hide_password=False)

    def create(self, template: str | None = None) -> str:
        """Create an empty database (or a copy of ``template``); return its SQLAlchemy URL."""
        name = f"desk_test_{uuid.uuid4().hex[:12]}"
        clause = f" TEMPLATE {template}" if template else ""
        self._admin.execute(f"CREATE DATABASE {name}{clause}")
        return self.url_of(name)

    def url_of(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)

    def end_listeners(self, url: str) -> int:
        """End every session on the database at ``url`` that listens for notifications.

        A database restart or a network fault does the same. Return how many were ended.
        """
        name = make_url(url).database
        rows = self._admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND query LIKE 'LISTEN %%'", (name,)).fetchall()
        return len(rows)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        assert name and name.startswith("desk_test_")
        self._admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def close(self) -> None:
        self._admin.close()
