"""The layers of the desk: screens know only the backend interface, and startup stays light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import desk

PACKAGE = Path(desk.__file__).parent
# Modules the user interface must not import: storage, HTTP, the server and the market itself.
FORBIDDEN = ("sqlalchemy", "httpx", "fastapi", "uvicorn", "desk.backend.market",
             "desk.backend.local", "desk.backend.store", "desk.backend.models",
             "desk.backend.remote")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def interface_files() -> list[Path]:
    return [PACKAGE / "app.py", PACKAGE / "formatting.py", PACKAGE / "export.py",
            *sorted((PACKAGE / "screens").glob("*.py")),
            *sorted((PACKAGE / "widgets").glob("*.py"))]


def test_screens_use_only_the_backend_interface() -> None:
    offenders = {}
    for path in interface_files():
        bad = sorted(name for name in imported_modules(path)
                     if any(name == banned or name.startswith(banned + ".")
                            for banned in FORBIDDEN))
        if bad:
            offenders[path.relative_to(PACKAGE).as_posix()] = bad
    assert offenders == {}


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], check=True, timeout=60,
                          capture_output=True, text=True)
    return done.stdout


def test_backend_never_imports_textual() -> None:
    run_python(
        "import sys\n"
        "import desk.backend.local, desk.backend.market, desk.backend.interface\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "assert not loaded, loaded\n"
    )


def test_login_screen_needs_no_database_libraries() -> None:
    # What `desk` loads before its first frame: the command line, settings and the login.
    run_python(
        "import sys\n"
        "import desk.cli, desk.app, desk.screens.login\n"
        "heavy = sorted(m for m in ('sqlalchemy', 'httpx', 'fastapi', 'passlib', 'jwt',\n"
        "                           'pydantic', 'pydantic_settings')\n"
        "               if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )


def test_first_frame_needs_no_database_libraries() -> None:
    # The desk opens its market in a worker once the first frame is drawn. The opener below
    # replaces the market's, so it records what was loaded by then and which screens existed.
    output = run_python(
        "import sys\n"
        "from desk.app import DeskApp\n"
        "HEAVY = ('sqlalchemy', 'alembic', 'httpx', 'fastapi', 'uvicorn', 'passlib',\n"
        "         'bcrypt', 'jwt', 'pydantic', 'pydantic_settings', 'desk.backend.market',\n"
        "         'desk.backend.local', 'desk.backend.remote', 'desk.backend.schemas',\n"
        "         'desk.screens.portfolio', 'desk.screens.trades', 'desk.screens.market',\n"
        "         'desk.screens.history')\n"
        "seen = {}\n"
        "def open_backend():\n"
        "    seen['loaded'] = sorted(m for m in HEAVY if m in sys.modules)\n"
        "    seen['stack'] = [type(screen).__name__ for screen in app.screen_stack]\n"
        "    app.call_from_thread(app.exit)\n"
        "    raise RuntimeError('this test opens no market')\n"
        "app = DeskApp(open_backend)\n"
        "app.run(headless=True, size=(80, 24))\n"
        "print(seen)\n"
    )
    assert "'stack': ['LoginScreen']" in output
    assert "'loaded': []" in output
