"""distral_repro.forkserver: jobs forked from one process that imported torch, run as the command line would.

Real processes throughout: a server started as the workflow starts it, clients as subprocesses,
real signals. Each run is the smoke preset on maze with a larger budget (a few seconds), so that
a signal can arrive mid-run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from distral_repro import forkserver

REPO = Path(__file__).resolve().parents[1]
ARGS = ["--algo", "KL+ent_2col", "--env", "maze", "--beta", "1000", "--lr", "4e-3", "--seed", "0",
        "--preset", "smoke", "--steps-per-task", "12800", "--threads", "1"]


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.delenv(forkserver.ENV_VAR, raising=False)
    log = tmp_path / "forkserver.log"
    proc = forkserver.start(log)
    assert proc is not None, log.read_text()
    yield log
    forkserver.stop(proc)
    assert proc.returncode == 0 and "jobs served, stopping" in log.read_text()


def client(out: Path, *extra: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "distral_repro.forkserver", "run", "--", *ARGS, *extra,
                             "--out", str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **kwargs)


def direct(out: Path) -> None:
    subprocess.run([sys.executable, "-m", "distral_repro.train", *ARGS, "--quiet", "--out", str(out)], check=True,
                   env={**os.environ, "PYTHONPATH": str(REPO)})


def summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def wait_for(path: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.02)


def test_a_job_through_the_server_writes_the_files_of_a_direct_run(server, tmp_path):
    proc = client(tmp_path / "served", "--quiet")
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    direct(tmp_path / "direct")
    for name in ("progress.csv", "pi0_eval.csv"):
        assert (tmp_path / "served" / name).read_bytes() == (tmp_path / "direct" / name).read_bytes()
    assert summary(tmp_path / "served") == summary(tmp_path / "direct")
    log = server.read_text()
    assert re.search(r"job 1 \(pid \d+\): .*--out .*served", log) and re.search(r"exited 0 after [\d.]+ core-seconds", log)


def test_a_job_in_another_numeric_mode_runs_in_a_fresh_process(server, tmp_path):
    """The server's torch computes in the portable mode; a native job must not run in it."""
    proc = client(tmp_path / "native", "--quiet", "--steps-per-task", "400", env={"DISTRAL_NUMERICS": "native"})
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    recorded = json.loads((tmp_path / "native" / "summary.json").read_text())["numerics"]
    assert recorded["mode"] == "native" and set(recorded["env"].values()) == {None}


def test_sigterm_to_the_client_checkpoints_and_the_same_command_resumes(server, tmp_path):
    run = tmp_path / "run"
    proc = client(run)
    wait_for(run / "checkpoint.pt")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    assert "stopped by SIGTERM" in proc.stderr.read() and "exited 143" in server.read_text()
    assert (run / "checkpoint.pt").exists() and not (run / "summary.json").exists()
    resumed = client(run, "--quiet")
    assert resumed.wait(timeout=120) == 0, resumed.stderr.read()
    direct(tmp_path / "uninterrupted")
    assert (run / "progress.csv").read_bytes() == (tmp_path / "uninterrupted" / "progress.csv").read_bytes()
    assert summary(run) == summary(tmp_path / "uninterrupted")


def test_a_killed_client_takes_its_job_with_it(server, tmp_path):
    run = tmp_path / "run"
    proc = client(run, "--quiet")
    wait_for(run / "checkpoint.pt")
    child = int(re.search(r"job 1 \(pid (\d+)\)", server.read_text()).group(1))
    proc.kill()
    proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while "exited 137" not in server.read_text():  # SIGKILL, as a killed `python -m distral_repro.train`
        assert time.monotonic() < deadline, server.read_text()
        time.sleep(0.05)
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)
    assert not (run / "summary.json").exists()


def test_bad_arguments_one_message_and_exit_2_through_the_server(server, tmp_path):
    proc = client(tmp_path / "run", "--beta", "-1")
    assert proc.wait(timeout=60) == 2
    err = proc.stderr.read()
    assert err.startswith("distral_repro.train: error:") and err.count("\n") == 1 and "beta" in err
    assert "job 1" in server.read_text() and not (tmp_path / "run").exists()


@pytest.mark.parametrize("env", [{forkserver.ENV_VAR: "/nonexistent/socket"}, {"SLURM_JOB_ID": "42"}],
                         ids=["no server at the socket", "a Slurm job"])
def test_without_a_server_the_client_runs_the_job_itself(server, tmp_path, env):
    proc = client(tmp_path / "run", "--quiet", env=env)
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    assert summary(tmp_path / "run")["status"] == "ok"
    assert "job 1" not in server.read_text()
