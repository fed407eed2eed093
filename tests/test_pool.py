"""Connection pool settings: from DESK_DB_* variables to the engine of the market database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.pool import QueuePool

from desk.backend.store import Database, PoolOptions
from desk.settings import Settings
from tests.postgres import PostgresServer


@pytest.fixture
def postgres_url(postgres: PostgresServer, postgres_template: str) -> Iterator[str]:
    url = postgres.create(template=postgres_template)
    yield url
    postgres.drop(url)


def test_settings_reach_postgres_pool(postgres_url: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESK_DB_POOL_SIZE", "3")
    monkeypatch.setenv("DESK_DB_MAX_OVERFLOW", "2")
    monkeypatch.setenv("DESK_DB_POOL_TIMEOUT_SECONDS", "4.5")
    monkeypatch.setenv("DESK_DB_POOL_RECYCLE_SECONDS", "600")
    monkeypatch.setenv("DESK_DB_POOL_PRE_PING", "false")
    options = Settings().pool_options()
    assert options == PoolOptions(size=3, max_overflow=2, timeout=4.5, recycle=600,
                                  pre_ping=False)

    database = Database(postgres_url, pool=options)
    try:
        pool = database.engine.pool
        assert isinstance(pool, QueuePool)
        assert pool.size() == 3
        assert pool.timeout() == 4.5
        assert pool._recycle == 600
        assert pool._pre_ping is False
        with database.read() as connection:
            assert connection.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        database.dispose()


def test_exhausted_pool_times_out(postgres_url: str) -> None:
    database = Database(postgres_url, pool=PoolOptions(size=1, max_overflow=0, timeout=0.2))
    try:
        # While one reader has the only connection checked out, a second waits 0.2 s and fails.
        with database.read(), pytest.raises(PoolTimeoutError), database.read():
            pass
        # The connection went back to the pool, so the next reader gets it.
        with database.read() as connection:
            assert connection.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        database.dispose()


@pytest.mark.parametrize("options", [
    {"size": 0}, {"max_overflow": -1}, {"timeout": 0},
])
def test_invalid_pool_options_rejected(options: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        PoolOptions(**options)  # type: ignore[arg-type]


def test_invalid_pool_setting_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESK_DB_POOL_SIZE", "0")
    with pytest.raises(ValueError, match="db_pool_size"):
        Settings()
