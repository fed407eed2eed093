"""Instructions and CPU time from spawn to the first screen's text, desk against bare app.

Wall time on a shared machine scatters by tens of percent, but the number of instructions
that valgrind's callgrind counts moves by about 1% between runs. Each program runs on an
80×24 pseudo-terminal as in bench/desk_startup.py. Inside the child, this module ends the
process as soon as the ready text has been queued for the terminal, so the count covers the
start-up only. It takes about 20 s per program and needs ``valgrind``. With ``--cpu RUNS``
it instead starts each program RUNS times without valgrind, alternating, and reports the
median CPU time (user and system) of the child up to the ready text.

Run: ``python bench/desk_startup_instructions.py [--cpu RUNS]``. Prints both figures and
their ratio.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import resource
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
from pathlib import Path

BENCH = Path(__file__).resolve().parent
READY = {"bare": "bare app ready for input", "desk": "New here? ctrl+r registers an account."}
_ESCAPE = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b.")
TIMEOUT_SECONDS = 300


def run_until_ready(program: str) -> None:
    """Run ``program`` (bare or desk) in this process and exit once its ready text is written."""
    from textual.drivers._writer_thread import WriterThread

    written: list[str] = []
    queue_text = WriterThread.write

    def write(self: WriterThread, text: str) -> None:
        queue_text(self, text)
        written.append(text)
        if READY[program] in _ESCAPE.sub("", "".join(written)):
            os._exit(0)

    WriterThread.write = write  # type: ignore[method-assign]
    if program == "bare":
        sys.path.insert(0, str(BENCH))
        from bare_app import BareApp

        BareApp().run()
    else:
        from desk.cli import main

        main([])


def start_until_ready(command: list[str], env: dict[str, str]) -> resource.struct_rusage:
    """Run ``command`` on an 80×24 pseudo-terminal until it exits; return its resource usage."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    process = subprocess.Popen(command, stdin=child, stdout=child, stderr=child, env=env,
                               start_new_session=True)
    os.close(child)
    timed_out = False
    try:
        while True:
            if not select.select([main], [], [], TIMEOUT_SECONDS)[0]:
                timed_out = True
                process.kill()
                break
            try:
                if not os.read(main, 65536):
                    break
            except OSError:
                break
        _, _, usage = os.wait4(process.pid, 0)
        process.returncode = 0  # reaped by wait4 above
    finally:
        if process.returncode is None:
            process.kill()
            process.wait()
        os.close(main)
    if timed_out:
        raise TimeoutError(f"{command[-1]} showed no ready text within {TIMEOUT_SECONDS} s")
    return usage


def child_command(program: str) -> list[str]:
    return [sys.executable, __file__, "--child", program]


def count_instructions(program: str, env: dict[str, str]) -> int:
    """Return the instructions callgrind counted for ``program`` up to its ready text."""
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "callgrind.log"
        valgrind = ["valgrind", "--tool=callgrind", f"--log-file={log}",
                    f"--callgrind-out-file={Path(folder) / 'callgrind.out'}"]
        start_until_ready(valgrind + child_command(program), env)
        found = re.search(r"Collected : (\d+)", log.read_text())
    if found is None:
        raise RuntimeError(f"callgrind reported no count for {program}")
    return int(found.group(1))


def cpu_seconds(program: str, env: dict[str, str]) -> float:
    """Return the CPU time, user and system, of ``program`` up to its ready text."""
    usage = start_until_ready(child_command(program), env)
    return usage.ru_utime + usage.ru_stime


def print_cpu_times(runs: int, env: dict[str, str]) -> None:
    # One untimed start of each warms the file cache, as in bench/desk_startup.py.
    cpu_seconds("bare", env)
    cpu_seconds("desk", env)
    bare: list[float] = []
    desk: list[float] = []
    for _ in range(runs):
        bare.append(cpu_seconds("bare", env))
        desk.append(cpu_seconds("desk", env))
    for name, times in (("bare Textual app", bare), ("desk login screen", desk)):
        print(f"{name}: CPU time median {statistics.median(times) * 1000:.0f} ms "
              f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}, {runs} runs)")
    print(f"ratio desk / bare: {statistics.median(desk) / statistics.median(bare):.2f}")


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        run_until_ready(sys.argv[2])
        return
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "TERM": "xterm-256color", "DESK_DATA_DIR": folder,
               "COLUMNS": "80", "LINES": "24"}
        env.pop("TEXTUAL", None)
        subprocess.run([sys.executable, "-m", "desk", "init-db"], env=env, check=True,
                       capture_output=True, timeout=120)
        if sys.argv[1:2] == ["--cpu"]:
            print_cpu_times(int(sys.argv[2]), env)
            return
        bare = count_instructions("bare", env)
        desk = count_instructions("desk", env)
    print(f"bare Textual app: {bare / 1e6:,.0f} M instructions")
    print(f"desk login screen: {desk / 1e6:,.0f} M instructions")
    print(f"ratio desk / bare: {desk / bare:.2f}")


if __name__ == "__main__":
    main()
