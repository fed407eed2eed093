"""The ``desk serve`` command: start-up checks, its log, and stopping."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import register_and_login
from tests.serving import HOST, ServerProcess, free_port, server_environment
from tests.support import PASSWORD

COMMAND_TIMEOUT_SECONDS = 60


def run_desk(*arguments: str, folder: Path, secret_key: str | None = None,
             ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desk", *arguments], cwd=folder, capture_output=True,
        text=True, env=server_environment(folder / "data", secret_key),
        timeout=COMMAND_TIMEOUT_SECONDS, check=False)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "desk.example.com"])
def test_public_host_needs_secret_key(host: str, tmp_path: Path) -> None:
    result = run_desk("serve", "--host", host, "--port", str(free_port()), folder=tmp_path)
    assert result.returncode == 2
    assert "DESK_SECRET_KEY" in result.stderr
    assert "requires a signing key" in result.stderr
    assert not (tmp_path / "data" / "desk.db").exists()


def test_short_secret_key_not_echoed(tmp_path: Path) -> None:
    result = run_desk("serve", "--port", str(free_port()), folder=tmp_path,
                      secret_key="short-secret-value")
    assert result.returncode == 2
    assert "DESK_SECRET_KEY" in result.stderr
    assert "at least 32 characters" in result.stderr
    assert "short-secret-value" not in result.stderr


def test_serve_help_states_units(tmp_path: Path) -> None:
    result = run_desk("serve", "--help", folder=tmp_path)
    assert result.returncode == 0
    help_text = " ".join(result.stdout.split())
    assert "TCP port to listen on, 1 to 65535 (default: 8000)" in help_text
    assert "(default: 127.0.0.1, loopback only)" in help_text
    assert "DESK_SECRET_KEY" in help_text
    assert "SQLAlchemy URL of the market database" in help_text


def test_invalid_port_rejected(tmp_path: Path) -> None:
    result = run_desk("serve", "--port", "70000", folder=tmp_path)
    assert result.returncode == 2
    assert "invalid port 70000" in result.stderr


def test_port_in_use(server: ServerProcess, tmp_path: Path) -> None:
    result = run_desk("serve", "--port", str(server.port), folder=tmp_path,
                      secret_key="k" * 40)
    assert result.returncode == 1
    assert (f"could not start the server on {HOST}:{server.port}: address already in use"
            in result.stderr)
    assert not (tmp_path / "data" / "desk.db").exists()


def test_start_and_stop_logged(tmp_path: Path) -> None:
    # No DESK_SECRET_KEY: on loopback the server keeps a key in its data folder.
    process = ServerProcess(tmp_path, secret_key=None)
    process.start()
    try:
        assert (process.data_dir / "secret.key").exists()
        demo = httpx.post(f"{process.url}/api/auth/login",
                          json={"username": "demo", "password": "demo123"})
        assert demo.status_code == 200
    finally:
        status = process.stop()
    assert status == 0
    log = process.log_text()
    database = process.database_url.removeprefix("sqlite:///")
    assert f"starting server on {process.url} with database {database}" in log
    assert log.rstrip().endswith("server stopped")
    assert "setup plugin" not in log


def test_serve_without_demo_user(tmp_path: Path) -> None:
    process = ServerProcess(tmp_path, arguments=["--no-demo"])
    process.start()
    try:
        demo = httpx.post(f"{process.url}/api/auth/login",
                          json={"username": "demo", "password": "demo123"})
        prices = httpx.get(f"{process.url}/api/market/prices")
    finally:
        process.stop()
    assert demo.status_code == 401
    assert prices.status_code == 200
    assert len(prices.json()) == 6


def test_log_has_requests_not_secrets(http: httpx.Client, server: ServerProcess) -> None:
    start = server.log_size()
    trader = register_and_login(http, "logged")
    http.get("/api/trades/list", params={"cursor": "WzQyXQ"}, headers=trader.headers)
    http.get("/api/user/balance", headers={"Authorization": f"Bearer {trader.token}x"})
    http.post("/api/auth/login", json={"username": trader.username, "password": "wrong-pass"})
    http.post("/api/auth/register", json={"username": "toolong", "email": "t@example.com",
                                          "password": "q" * 80})
    log = server.log_text(start)

    assert "127.0.0.1 POST /api/auth/register 201 " in log
    assert "GET /api/trades/list 200 " in log
    assert "GET /api/user/balance 401 " in log
    assert "POST /api/auth/login 401 " in log
    assert " ms\n" in log
    for secret in (PASSWORD, "wrong-pass", "q" * 80, trader.token, "WzQyXQ", "$2b$"):
        assert secret not in log
