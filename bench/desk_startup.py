"""Cold start of ``desk`` to an interactive login screen, against a bare Textual app.

Both programs start the same way, as a new Python process on a pseudo-terminal of 80×24.
Each is timed from the spawn until a known line of its first screen has been written to the
terminal: the login form's hint for the desk, the only line of the bare app. Each run is a
new process, so imports are cold in the interpreter but warm in the operating system's file
cache, for both alike. The desk opens its market after the login screen is up. The database
is prepared once beforehand (``desk init-db``), as on any start after the first.

Run: ``python bench/desk_startup.py [--quick]``. Prints each median and their ratio.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import re
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python bench/desk_startup.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import Result  # noqa: E402 - after the path is set for script use

BENCH = Path(__file__).resolve().parent
TITLE = "Desk start-up: spawn to an interactive login screen"
GOAL_RATIO = 1.5
DESK_READY = "New here? ctrl+r registers an account."
BARE_READY = "bare app ready for input"
TIMEOUT_SECONDS = 30.0
QUIT = b"\x11"  # ctrl+q
_ESCAPE = re.compile(
    rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[()][0-9A-B]|\x1b."
)


def time_to_text(command: list[str], ready: str, env: dict[str, str]) -> float:
    """Start ``command`` on an 80×24 pseudo-terminal; return seconds until ``ready`` shows."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    started = time.perf_counter()
    process = subprocess.Popen(command, stdin=child, stdout=child, stderr=child, env=env,
                               close_fds=True, start_new_session=True)
    os.close(child)
    seen = b""
    wanted = ready.encode()
    try:
        while True:
            remaining = TIMEOUT_SECONDS - (time.perf_counter() - started)
            if remaining <= 0:
                raise TimeoutError(f"{ready!r} not shown within {TIMEOUT_SECONDS}s")
            readable, _, _ = select.select([main], [], [], remaining)
            if not readable:
                continue
            try:
                chunk = os.read(main, 65536)
            except OSError:
                raise RuntimeError(f"{command[:3]} exited before showing {ready!r}") from None
            seen += chunk
            if wanted in _ESCAPE.sub(b"", seen):
                elapsed = time.perf_counter() - started
                break
        os.write(main, QUIT)
        _drain_until_exit(main, process)
        return elapsed
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(main)


def _drain_until_exit(main: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.perf_counter() + TIMEOUT_SECONDS
    while process.poll() is None and time.perf_counter() < deadline:
        readable, _, _ = select.select([main], [], [], 0.05)
        if readable:
            try:
                os.read(main, 65536)
            except OSError:
                break
    process.wait(timeout=TIMEOUT_SECONDS)


def measure(runs: int) -> tuple[list[float], list[float]]:
    """Start the bare app and the desk ``runs`` times each, alternating; return both times."""
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "TERM": "xterm-256color", "DESK_DATA_DIR": folder,
               "DESK_BCRYPT_ROUNDS": "4", "COLUMNS": "80", "LINES": "24"}
        env.pop("TEXTUAL", None)
        subprocess.run([sys.executable, "-m", "desk", "init-db"], env=env, check=True,
                       capture_output=True, timeout=120)
        bare_command = [sys.executable, str(BENCH / "bare_app.py")]
        desk_command = [sys.executable, "-m", "desk"]
        # One untimed start of each warms the file cache for both.
        time_to_text(bare_command, BARE_READY, env)
        time_to_text(desk_command, DESK_READY, env)
        bare, desk = [], []
        for _ in range(runs):
            bare.append(time_to_text(bare_command, BARE_READY, env))
            desk.append(time_to_text(desk_command, DESK_READY, env))
    return bare, desk


def run(quick: bool) -> list[Result]:
    """Measure and return the result in the benchmark runner's shape."""
    bare, desk = measure(5 if quick else 15)
    bare_median = statistics.median(bare)
    desk_median = statistics.median(desk)
    ratio = desk_median / bare_median
    return [Result(
        name="desk start-up to interactive login screen, wall time",
        value=round(desk_median * 1000),
        unit="ms",
        baseline_name="bare Textual app started the same way",
        baseline_value=round(bare_median * 1000),
        ratio=ratio,
        goal=f"ratio ≤ {GOAL_RATIO}",
        met=ratio <= GOAL_RATIO,
        spread=f"{min(desk) * 1000:.0f}–{max(desk) * 1000:.0f} ms over {len(desk)} runs; "
               f"baseline {min(bare) * 1000:.0f}–{max(bare) * 1000:.0f} ms",
        note="80×24 pseudo-terminal, timed to the login form's hint line; the two alternate",
    )]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 runs of each instead of 15")
    args = parser.parse_args()
    bare, desk = measure(5 if args.quick else 15)
    print(f"runs: {len(desk)} of each, on an 80x24 pseudo-terminal")
    print(f"bare Textual app: median {statistics.median(bare) * 1000:.0f} ms "
          f"(min {min(bare) * 1000:.0f}, max {max(bare) * 1000:.0f})")
    print(f"desk login screen: median {statistics.median(desk) * 1000:.0f} ms "
          f"(min {min(desk) * 1000:.0f}, max {max(desk) * 1000:.0f})")
    print(f"ratio desk / bare: {statistics.median(desk) / statistics.median(bare):.2f}")


if __name__ == "__main__":
    main()
