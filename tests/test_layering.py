"""Layering rules: the backend never imports Textual; screens never reach the storage."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "desk"
# What the desk's screens and widgets may not import: they talk to the Backend interface only.
STORAGE_MODULES = ("sqlalchemy", "httpx", "desk.backend.store", "desk.backend.models",
                   "desk.backend.market", "desk.backend.ledger")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted((PACKAGE / "backend").rglob("*.py")),
                         ids=lambda path: str(path.relative_to(PACKAGE)))
def test_backend_module_avoids_textual(path: Path) -> None:
    textual = {name for name in imported_modules(path) if name.split(".")[0] == "textual"}
    assert not textual


def test_backend_import_loads_no_textual() -> None:
    # Migration scripts run only inside Alembic, so they are left out.
    code = ("import sys, pkgutil, importlib, desk.backend as b\n"
            "for m in pkgutil.walk_packages(b.__path__, 'desk.backend.'):\n"
            "    if not m.name.startswith('desk.backend.migrations'):\n"
            "        importlib.import_module(m.name)\n"
            "print('textual' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60)
    assert result.stdout.strip() == "False"


def test_screens_avoid_storage() -> None:
    for folder in ("screens", "widgets"):
        for path in sorted((PACKAGE / folder).rglob("*.py")):
            reached = {name for name in imported_modules(path)
                       if name.startswith(STORAGE_MODULES)}
            assert not reached, f"{path.relative_to(PACKAGE)} imports {sorted(reached)}"
