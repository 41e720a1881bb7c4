"""Training jobs without a per-job import of torch: a fork server (docs/workflow.md, docs/speed.md).

    python -m distral_repro.forkserver serve SOCKET       # imports the trainer once, forks per job
    python -m distral_repro.forkserver run -- TRAIN ARGS  # one job: `python -m distral_repro.train TRAIN ARGS`

A grid job trains for 7-14 s, and importing torch costs 2-3 s of it. The workflow (Snakefile,
`onstart`) starts one server per local `snakemake` invocation and names its socket in
$DISTRAL_FORKSERVER; each training job's command is `run`, a small client that imports no torch.
The client hands the server its argv, working directory, environment and stdin/stdout/stderr;
the server forks a child that runs `distral_repro.train.main` exactly as the command line
would, and reports the child's exit status to the client, which exits with it. Same files,
bit for bit, as `python -m distral_repro.train` (tests/test_forkserver.py).

Signals keep their meaning: SIGTERM/SIGINT/SIGHUP to the client are passed to the child (it
finishes the update, writes its checkpoint and exits 128 + signal); if the client dies without
passing one (SIGKILL), the child is killed at once, as a killed `python -m distral_repro.train`
would be. Without a server (none started, socket gone, a Slurm job, a conda/apptainer job, where
the variable is not set) `run` execs `python -m distral_repro.train` itself.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import sys
import threading

from distral_repro import numerics

ENV_VAR = "DISTRAL_FORKSERVER"
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_HEADER = struct.Struct("!I")
_STARTED, _EXITED = b"S", b"X"


def _direct(argv: list[str]) -> int:
    os.execv(sys.executable, [sys.executable, "-m", "distral_repro.train", *argv])
    return 1  # not reached


def _recv_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return data
        data += chunk
    return data


# ---- the client -----------------------------------------------------------------------------


def run_job(argv: list[str]) -> int:
    """One training job through the server named by $DISTRAL_FORKSERVER, else directly."""
    path = os.environ.get(ENV_VAR)
    if not path or "SLURM_JOB_ID" in os.environ:
        return _direct(argv)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
        request = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
        socket.send_fds(conn, [_HEADER.pack(len(request)) + request], [0, 1, 2])
        started = _recv_exactly(conn, 1 + _HEADER.size)
    except OSError:
        started = b""
    if not started.startswith(_STARTED):  # no server, or it could not fork: nothing ran
        conn.close()
        return _direct(argv)

    def forward(signum, _frame):
        try:
            conn.sendall(bytes([signum]))
        except OSError:
            pass

    for signum in FORWARDED:
        signal.signal(signum, forward)
    reply = _recv_exactly(conn, 1 + _HEADER.size)
    if not reply.startswith(_EXITED):
        print(f"distral_repro.forkserver: the server at {path} lost job {argv}", file=sys.stderr)
        return 1
    return _HEADER.unpack(reply[1:])[0]


# ---- the server -----------------------------------------------------------------------------


def _child(conn: socket.socket, request: dict, fds: list[int], train) -> None:
    """In the forked child: become the job, run it, exit with its code (never returns)."""
    code = 1
    try:
        for signum in (*FORWARDED, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        for target, fd in enumerate(fds):
            if fd != target:
                os.dup2(fd, target)
                os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        if not numerics.serves(os.environ):  # torch here computes in another numeric mode: a fresh process
            os.execv(sys.executable, [sys.executable, "-m", "distral_repro.train", *request["argv"]])
        sys.argv = ["distral_repro.train", *request["argv"]]

        def watch() -> None:  # signals passed on by the client; its end of the socket closing = killed
            while True:
                try:
                    data = conn.recv(1)
                except OSError:
                    data = b""
                if not data:
                    os.kill(os.getpid(), signal.SIGKILL)
                os.kill(os.getpid(), data[0])

        threading.Thread(target=watch, daemon=True).start()
        code = train.main(request["argv"])
        for signum in train.StopSignals.SIGNALS:  # as `python -m distral_repro.train`: the files are final
            signal.signal(signum, signal.SIG_IGN)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - a traceback in the job's log, exit 1, as the command line
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code)


def serve(path: str) -> int:
    """Accept jobs on the Unix socket PATH until SIGTERM or until the parent process is gone."""
    import distral_repro.train as train  # the point of the server: imported once

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    parent = os.getppid()
    stopping = False
    children: dict[int, socket.socket] = {}

    def stop(_signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C reaches the clients, who pass it on
    print(f"distral_repro.forkserver: serving on {path}", flush=True)
    jobs = 0
    while True:
        if (stopping or os.getppid() != parent) and listener.fileno() >= 0:
            stopping = True
            listener.close()
            os.unlink(path)
        if stopping and not children:
            break
        readable = [listener] if listener.fileno() >= 0 else []
        try:
            ready, _, _ = select.select(readable, [], [], 0.05)
        except InterruptedError:
            ready = []
        if ready:
            conn, _ = listener.accept()
            try:
                message, fds, _flags, _addr = socket.recv_fds(conn, 1 << 16, 3)
                size = _HEADER.unpack(message[:_HEADER.size])[0]
                body = message[_HEADER.size:]
                body += _recv_exactly(conn, size - len(body))
                request = json.loads(body)
            except (OSError, ValueError, struct.error):
                conn.close()
                continue
            pid = os.fork()
            if pid == 0:
                listener.close()
                for other in children.values():
                    other.close()
                _child(conn, request, list(fds), train)
            for fd in fds:
                os.close(fd)
            children[pid] = conn
            jobs += 1
            conn.sendall(_STARTED + _HEADER.pack(pid))
            print(f"job {jobs} (pid {pid}): {' '.join(request['argv'])}", flush=True)
        while children:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
            if pid == 0:
                break
            code = os.waitstatus_to_exitcode(status)
            code = code if code >= 0 else 128 - code  # killed by a signal: as a shell reports it
            conn = children.pop(pid)
            try:
                conn.sendall(_EXITED + _HEADER.pack(code))
            except OSError:
                pass
            conn.close()
            print(f"pid {pid} exited {code} after {usage.ru_utime + usage.ru_stime:.2f} core-seconds", flush=True)
    print(f"distral_repro.forkserver: {jobs} jobs served, stopping", flush=True)
    return 0


# ---- started and stopped by the workflow -----------------------------------------------------


def start(log: str | os.PathLike, timeout_s: float = 60.0):
    """Start a server (`python` on PATH, as the jobs' commands), appending to LOG, and name its
    socket in $DISTRAL_FORKSERVER for the jobs; the process, or None if it did not come up."""
    import shutil
    import subprocess
    import tempfile
    import time

    directory = tempfile.mkdtemp(prefix="distral-fs-")  # short: a socket path has at most 107 bytes
    path = os.path.join(directory, "socket")
    python = shutil.which("python") or sys.executable
    with open(log, "a") as out:  # one block per invocation
        proc = subprocess.Popen([python, "-m", "distral_repro.forkserver", "serve", path], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout_s
    while not os.path.exists(path) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not os.path.exists(path):
        proc.terminate()
        proc.wait()
        shutil.rmtree(directory, ignore_errors=True)
        return None
    os.environ[ENV_VAR] = path
    return proc


def stop(proc) -> None:
    """Stop a server from `start` once its running jobs have ended (their core-seconds then count
    to the caller's process, e.g. under /usr/bin/time)."""
    import shutil

    if proc is None:
        return
    path = os.environ.pop(ENV_VAR, None)
    proc.terminate()
    proc.wait()
    if path:
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 2 and argv[0] == "serve":
        return serve(argv[1])
    if argv[:1] == ["run"]:
        rest = argv[1:]
        return run_job(rest[1:] if rest[:1] == ["--"] else rest)
    print("usage: python -m distral_repro.forkserver serve SOCKET | run -- TRAIN ARGS", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
