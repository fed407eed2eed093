"""Schema creation and demo data: `desk init-db`, the embedded database and the wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from desk.backend import Market, MarketConfig, seeding
from desk.backend.audit import audit
from desk.backend.models import Base, User
from desk.backend.security import PasswordHasher
from desk.backend.store import Database
from desk.settings import MAX_GRANT_AI_TOKENS, MAX_GRANT_BTC, Settings
from tests.conftest import SECRET
from tests.support import Clock

ROOT = Path(__file__).resolve().parents[1]


def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {
                table.name: [tuple(row) for row in connection.execute(
                    select(table).order_by(*table.primary_key.columns))]
                for table in Base.metadata.sorted_tables
            }
    finally:
        engine.dispose()


def desk_command(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "desk", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120, check=False)


def test_seeding_twice_changes_nothing(db_url: str) -> None:
    config = MarketConfig(secret_key=SECRET, bcrypt_rounds=4, clock=Clock())
    market = Market.open(db_url, config)
    first = dump(db_url)
    assert market.initialise() == []
    market.close()
    assert dump(db_url) == first
    assert len(first["token_types"]) == 6
    assert len(first["market_prices"]) == 6
    assert [row[1] for row in first["users"]] == ["house", "demo"]


@pytest.fixture
def empty_url(request: pytest.FixtureRequest, database_kind: str,
              tmp_path: Path) -> Iterator[str]:
    """An empty database of the test's kind: no schema, no data."""
    if database_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    server = request.getfixturevalue("postgres")
    url = server.create()
    yield url
    server.drop(url)


def test_concurrent_seeding_adds_once(empty_url: str) -> None:
    seeders = 4
    database = Database(empty_url)
    try:
        seeding.create_schema(database)
        start = threading.Barrier(seeders)

        def seed(_: int) -> list[str]:
            start.wait()
            return seeding.seed_database(database, PasswordHasher(4), datetime.now(UTC))

        with ThreadPoolExecutor(max_workers=seeders) as pool:
            results = list(pool.map(seed, range(seeders)))
        assert sorted(len(added) > 0 for added in results) == [False] * (seeders - 1) + [True]
        assert all(check.passed for check in audit(database))
    finally:
        database.dispose()
    assert [row[1] for row in dump(empty_url)["users"]] == ["house", "demo"]


def test_fresh_database_passes_audit(db_url: str) -> None:
    market = Market.open(db_url, MarketConfig(secret_key=SECRET, bcrypt_rounds=4))
    try:
        assert all(check.passed for check in audit(market.database))
    finally:
        market.close()


def test_init_db_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    first = desk_command("init-db", "--db", url)
    assert first.returncode == 0, first.stderr
    assert "added" in first.stdout
    assert "demo user 'demo'" in first.stdout
    rows = dump(url)

    again = desk_command("init-db", "--db", url)
    assert again.returncode == 0, again.stderr
    assert "up to date" in again.stdout
    assert dump(url) == rows


def test_init_db_without_demo(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bare.db'}"
    result = desk_command("init-db", "--db", url, "--no-demo")
    assert result.returncode == 0, result.stderr
    engine = create_engine(url)
    with engine.connect() as connection:
        names = connection.execute(select(User.username)).scalars().all()
    engine.dispose()
    assert names == ["house"]


def test_embedded_database_in_data_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = desk_command("init-db", env={"DESK_DATA_DIR": str(data)})
    assert result.returncode == 0, result.stderr
    assert (data / "desk.db").is_file()
    assert (data / "secret.key").is_file()
    assert Settings(data_dir=data).database() == f"sqlite:///{data / 'desk.db'}"


def test_init_db_reports_bad_url(tmp_path: Path) -> None:
    result = desk_command("init-db", "--db", "nosuchdialect://x")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "nosuchdialect" in result.stderr


def test_init_db_data_folder_is_file(tmp_path: Path) -> None:
    occupied = tmp_path / "occupied"
    occupied.write_text("a file where the data folder should be")

    result = desk_command("init-db", env={"DESK_DATA_DIR": str(occupied)})

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"cannot use {occupied}" in result.stderr
    assert "DESK_DATA_DIR" in result.stderr


def test_init_db_database_folder_is_file(tmp_path: Path) -> None:
    occupied = tmp_path / "occupied"
    occupied.write_text("a file where the database's folder should be")

    result = desk_command("init-db", "--db", f"sqlite:///{occupied / 'market.db'}")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"cannot use {occupied}" in result.stderr


def test_init_db_env_file_not_utf8(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"DESK_GRANT_BTC=0.01\nDESK_NOTE=caf\xe9\n")
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith("DESK_")}

    result = subprocess.run([sys.executable, "-m", "desk", "init-db", "--db",
                             f"sqlite:///{tmp_path / 'market.db'}"], cwd=tmp_path,
                            env=environment, capture_output=True, text=True, timeout=120,
                            check=False)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "the .env file" in result.stderr
    assert "not UTF-8 text" in result.stderr


@pytest.mark.parametrize(("name", "value"), [
    ("DESK_GRANT_AI_TOKENS", "1e13"),
    ("DESK_GRANT_AI_TOKENS", "1e999999999"),
    ("DESK_GRANT_BTC", "1000000000000"),
    ("DESK_GRANT_BTC", "-1"),
])
def test_init_db_rejects_absurd_grant(tmp_path: Path, name: str, value: str) -> None:
    result = desk_command("init-db", "--db", f"sqlite:///{tmp_path / 'market.db'}",
                          env={name: value})

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{name}:" in result.stderr
    assert not (tmp_path / "market.db").exists()


def test_largest_grants_fit_storage(db_url: str) -> None:
    # Balances are 64-bit counts of the smallest unit: 21 million BTC is 2.1 * 10^15 satoshis.
    grant = Settings(grant_ai_tokens=MAX_GRANT_AI_TOKENS, grant_btc=MAX_GRANT_BTC)
    config = MarketConfig(secret_key=SECRET, bcrypt_rounds=4, grant=grant.market_config().grant)
    market = Market.open(db_url, config)
    try:
        for name in ("rich1", "rich2"):
            user = market.register(name, f"{name}@example.com", "correct-horse")
            balances = {b.token_type: b.balance for b in market.portfolio(user.id).balances}
            assert balances["OpenAI"] == MAX_GRANT_AI_TOKENS
            assert balances["BTC"] == MAX_GRANT_BTC
        assert all(check.passed for check in audit(market.database))
    finally:
        market.close()


@pytest.mark.slow
def test_wheel_ships_seed(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w",
                    str(tmp_path), str(ROOT)], check=True, timeout=300)
    wheel = next(tmp_path.glob("tokenomics_desk-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "desk/seed/demo.json" in names
    assert "desk/backend/market.py" in names
