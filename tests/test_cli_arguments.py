"""The command line's reading of ``--db``: a SQLAlchemy URL, or a SQLite file's path."""

from __future__ import annotations

from pathlib import Path

import pytest

from desk.cli import build_parser, database_argument


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
