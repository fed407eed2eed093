"""The deployment page lists every setting as ``desk.settings.Settings`` defines it."""

from __future__ import annotations

import re
from pathlib import Path

from desk.settings import Settings
from desk.settings_doc import settings_table

PAGE = Path(__file__).resolve().parents[1] / "docs" / "deployment.md"
START = "<!-- settings-table:start -->"
END = "<!-- settings-table:end -->"


def test_settings_table_is_current() -> None:
    text = PAGE.read_text(encoding="utf-8")
    documented = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert documented == settings_table(), (
        "docs/deployment.md lists other settings than desk.settings.Settings; run "
        "python -m desk.settings_doc and paste its output between the markers")


def test_table_names_every_setting() -> None:
    variables = re.findall(r"^\| `(DESK_[A-Z_]+)` \|", settings_table(), re.MULTILINE)
    assert variables == [f"DESK_{name.upper()}" for name in Settings.model_fields]


def test_numeric_settings_have_units() -> None:
    for line in settings_table().splitlines()[2:]:
        variable, default, unit, _meaning = (cell.strip() for cell in line.strip("|").split(" | "))
        if re.fullmatch(r"`-?[\d.]+`", default) and "VOLATILITY" not in variable:
            assert unit != "—", f"{variable} has a number as default but no unit"
