"""A real ``desk serve`` process for the tests that go over HTTP."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

SERVER_SECRET = "test-server-signing-key-" + "s" * 32
ALLOWED_ORIGIN = "http://desk.example.com"
HOST = "127.0.0.1"
STARTUP_DEADLINE_SECONDS = 60.0
STOP_DEADLINE_SECONDS = 15.0
LOG_DEADLINE_SECONDS = 30.0
# Attempts to start on a free port, because another process may take the port between
# probing it and the server binding it.
START_ATTEMPTS = 3


class ServerFailed(RuntimeError):
    """The server process did not start, or exited early."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def server_environment(data_dir: Path, secret_key: str | None = SERVER_SECRET,
                       extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the environment of a server process: the caller's, minus every DESK_ setting,
    plus a private data folder, a fast bcrypt cost, the CORS origin, ``secret_key`` and
    ``extra``, which overrides the others."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("DESK_")}
    env.update({
        "DESK_DATA_DIR": str(data_dir),
        "DESK_BCRYPT_ROUNDS": "4",
        "DESK_CORS_ORIGINS": ALLOWED_ORIGIN,
        # Prices stay still during tests that read a price and then trade at it.
        "DESK_FEED_INTERVAL_SECONDS": "3600",
    })
    if secret_key is not None:
        env["DESK_SECRET_KEY"] = secret_key
    env.update(extra or {})
    return env


class ServerProcess:
    """``desk serve`` on a free loopback port, with its own log file.

    The database is ``database_url``, by default a new SQLite file in ``folder``. Without
    ``secret_key``, the server signs tokens with the key in its data folder. ``environment``
    adds or overrides settings, such as ``DESK_FEED_INTERVAL_SECONDS``, and ``arguments``
    are added to the command line.
    """

    def __init__(self, folder: Path, secret_key: str | None = SERVER_SECRET,
                 database_url: str | None = None,
                 environment: Mapping[str, str] | None = None,
                 arguments: Sequence[str] = ()) -> None:
        self.folder = folder
        self.data_dir = folder / "data"
        self.secret_key = secret_key
        self.environment = dict(environment or {})
        self.arguments = list(arguments)
        self.database_url = database_url or f"sqlite:///{folder / 'market.db'}"
        self.log_path = folder / "server.log"
        self.port = 0
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, port: int | None = None) -> None:
        """Start the server and wait until it reports healthy; raise ``ServerFailed`` if not.

        With ``port``, listen there (once); otherwise on a free port.
        """
        attempts = 1 if port is not None else START_ATTEMPTS
        for attempt in range(1, attempts + 1):
            self.port = port or free_port()
            self.url = f"http://{HOST}:{self.port}"
            self._launch()
            try:
                self._wait_until_healthy()
                return
            except ServerFailed:
                self.stop()
                if attempt == attempts:
                    raise

    def restart(self) -> None:
        """Start the stopped server again on the same port and database."""
        assert self.port, "the server never started"
        self._launch()
        try:
            self._wait_until_healthy()
        except ServerFailed:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        assert self._process is not None, "the server is not running"
        return self._process.pid

    def pause(self) -> None:
        """Freeze the server process (SIGSTOP): it keeps its connections but handles no request."""
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server run again (SIGCONT)."""
        os.kill(self.pid, signal.SIGCONT)

    def _launch(self) -> None:
        command = [sys.executable, "-m", "desk", "serve", "--host", HOST,
                   "--port", str(self.port), "--db", self.database_url, *self.arguments]
        with self.log_path.open("ab") as log:
            # The folder as working directory keeps a developer's .env file out of the test.
            self._process = subprocess.Popen(
                command, cwd=self.folder,
                env=server_environment(self.data_dir, self.secret_key, self.environment),
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def _wait_until_healthy(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            try:
                # Wait a little between polls, and notice at once if the server exited.
                status = self._process.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
            raise ServerFailed(f"desk serve exited with status {status}:\n{self.log_text()}")
        raise ServerFailed(f"desk serve was not healthy within {STARTUP_DEADLINE_SECONDS} s:\n"
                           f"{self.log_text()}")

    def stop(self) -> int | None:
        """Stop the server with SIGTERM, as an operator would; return its exit status."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return None if process is None else process.returncode
        # A paused server would never handle SIGTERM.
        process.send_signal(signal.SIGCONT)
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=STOP_DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()

    def kill(self) -> int:
        """Kill the server with SIGKILL, as a crash would; return its exit status."""
        process, self._process = self._process, None
        assert process is not None, "the server is not running"
        process.kill()
        return process.wait()

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def wait_for_log(self, pattern: str, count: int = 1, start: int = 0) -> list[str]:
        """Return the matches of the regular expression ``pattern`` in the log from byte
        ``start`` on, once there are at least ``count``; fail after a deadline.

        A match is its first group, or the whole match without groups. The server writes a
        request's access log line just after it sends the response, so a client can have the
        response before the line is in the log.
        """
        deadline = time.monotonic() + LOG_DEADLINE_SECONDS
        while True:
            text = self.log_text(start)
            found = [match.group(1) if match.groups() else match.group(0)
                     for match in re.finditer(pattern, text, re.MULTILINE)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} matches of {pattern!r} expected in the server "
                                     f"log within {LOG_DEADLINE_SECONDS} s, found "
                                     f"{len(found)}:\n{text}")
            time.sleep(0.02)  # a poll interval, not a wait for readiness

    def log_text(self, start: int = 0) -> str:
        """Return the server's log from byte offset ``start`` on."""
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(start)
            return log.read().decode("utf-8", errors="replace")
