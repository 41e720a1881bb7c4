"""Run a long command with a limit based on progress, not on the host's speed.

A fixed time limit fails a correct run on a slow or busy host. Here a command is
stopped only when it *stalls*: nothing new on its stdout/stderr and no file under the
watched folder written for `stall_seconds`, or when it exceeds a generous `ceiling`
(hours, against a hang that keeps printing).
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

#: No output and no file written for this long: the command is stuck.
STALL_SECONDS = 900.0
#: Whatever the progress, no test command runs longer than this.
CEILING_SECONDS = 4 * 3600.0


class Stalled(AssertionError):
    """The command made no progress for too long; the message carries its output tail."""


def _newest_mtime(folder: Path) -> float:
    newest = 0.0
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            try:
                newest = max(newest, os.stat(os.path.join(root, name)).st_mtime)
            except OSError:
                pass
    return newest


def run_watched(argv: list[str], cwd: Path, env: dict | None = None, watch: Path | None = None,
                stall_seconds: float = STALL_SECONDS, ceiling_seconds: float = CEILING_SECONDS,
                on_poll=None) -> subprocess.CompletedProcess:
    """subprocess.run(argv, capture_output=True, text=True) with a progress watchdog.

    `on_poll(proc)` is called about every 0.2 s while the command runs (a test's hook to
    act on the run, e.g. cancel a job). The result carries the wall time in `.seconds`.
    """
    watch = Path(watch or cwd)
    began = last_progress = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err, text=True,
                                start_new_session=True)
        seen = (0, 0, 0.0)
        try:
            while proc.poll() is None:
                time.sleep(0.2)
                if on_poll is not None:
                    on_poll(proc)
                now = time.monotonic()
                state = (os.fstat(out.fileno()).st_size, os.fstat(err.fileno()).st_size,
                         _newest_mtime(watch) if now - last_progress > 5 else seen[2])
                if state != seen:
                    seen, last_progress = state, now
                if now - last_progress > stall_seconds or now - began > ceiling_seconds:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    out.seek(0), err.seek(0)
                    raise Stalled(f"{' '.join(argv[:6])}...: no progress for {now - last_progress:.0f} s "
                                  f"(or past {ceiling_seconds:.0f} s)\n--- stderr tail ---\n{err.read()[-4000:]}")
        except BaseException:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            raise
        out.seek(0), err.seek(0)
        result = subprocess.CompletedProcess(argv, proc.returncode, out.read(), err.read())
    result.seconds = time.monotonic() - began
    return result
