"""The command line's arguments: ``--db`` as a URL or a SQLite file's path, and the market
the desk opens from its arguments and settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from desk.cli import SettingsError, build_parser, database_argument, open_backend


def test_db_url_kept() -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/desk"
    assert database_argument(url) == url
    assert database_argument("sqlite:///market.db") == "sqlite:///market.db"


def test_db_path_becomes_sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert database_argument("market.sqlite") == f"sqlite:///{tmp_path / 'market.sqlite'}"
    assert database_argument("/tmp/desk.sqlite") == "sqlite:////tmp/desk.sqlite"


@pytest.mark.parametrize("command", [[], ["init-db"], ["audit"], ["serve"]])
def test_every_db_option_takes_path(command: list[str]) -> None:
    arguments = build_parser().parse_args([*command, "--db", "/tmp/desk.sqlite"])
    values = [value for name, value in vars(arguments).items() if name.endswith("db")
              or name.endswith("db_url")]
    assert "sqlite:////tmp/desk.sqlite" in values


def test_desk_names_unusable_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    occupied = tmp_path / "occupied"
    occupied.write_text("a file where the data folder should be")
    monkeypatch.setenv("DESK_DATA_DIR", str(occupied))
    closers: list[Callable[[], None]] = []

    with pytest.raises(SettingsError) as raised:
        open_backend(build_parser().parse_args([]), closers)

    assert f"cannot use {occupied}" in raised.value.message
    assert "DESK_DATA_DIR" in raised.value.message
    assert closers == []


def test_desk_settings_error_hides_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DESK_FEED_INTERVAL_SECONDS", "not-a-number-secret")

    with pytest.raises(SettingsError) as raised:
        open_backend(build_parser().parse_args([]), [])

    assert "DESK_FEED_INTERVAL_SECONDS" in raised.value.message
    assert "not-a-number-secret" not in raised.value.message
