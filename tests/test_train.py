"""`python -m distral_repro.train`: run files, resume after a kill, divergence, bad input, learning."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch

from distral_repro import train
from distral_repro.analysis.runs import load_run
from distral_repro.config import ALGORITHMS, ENVIRONMENTS, make_run_config

torch.set_num_threads(1)
TINY = ["--preset", "smoke", "--steps-per-task", "100", "--workers", "2", "--unroll", "5"]


def _args(out, algo="KL+ent_2col", env="maze", beta="100", lr="2e-3", seed=0, extra=TINY):
    return ["--algo", algo, "--env", env, "--beta", beta, "--lr", lr, "--seed", str(seed), "--out", str(out), "--quiet", *extra]


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("algo", list(ALGORITHMS))
def test_every_algorithm_on_every_family_writes_valid_files(tmp_path, algo, env):
    out = tmp_path / "run"
    assert train.main(_args(out, algo=algo, env=env)) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["progress.csv", "summary.json", "provenance.json"] + (["pi0_eval.csv"] if env == "maze" and algo != "A3C" else [])
    )
    run = load_run(out)  # the aggregation's own validator
    assert run.status == "ok" and run.algo == algo and run.env == env
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps_per_task"] >= 100
    assert summary["total_env_steps"] == summary["steps_per_task"] * len(run.tasks)
    assert summary["config"]["budget"]["workers"] == 2
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["steps_per_second"] > 0 and provenance["total_env_steps"] == summary["total_env_steps"]
    assert "git_commit" in provenance
    assert not {"wall_time_s", "steps_per_second", "git_commit"} & set(summary)
    progress = pd.read_csv(out / "progress.csv")
    assert list(progress.columns) == list(train.PROGRESS_COLUMNS)
    assert np.isfinite(progress[["policy_loss", "value_loss", "entropy"]].to_numpy()).all()


def _cli(out, extra, **kwargs):
    return [sys.executable, "-m", "distral_repro.train", *_args(out, extra=extra, **kwargs)]


def test_kill_and_resume_ends_like_an_uninterrupted_run(tmp_path):
    extra = ["--preset", "smoke", "--steps-per-task", "2400", "--workers", "4", "--unroll", "10", "--threads", "1"]
    reference = tmp_path / "reference"
    subprocess.run(_cli(reference, extra), check=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cli(killed, extra))
    while not (killed / "checkpoint.pt").exists() and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "summary.json").exists()
    assert (killed / "checkpoint.pt").exists()
    partial = pd.read_csv(killed / "progress.csv")  # atomically written: always a whole file
    assert len(partial) % 8 == 0

    subprocess.run(_cli(killed, extra), check=True)
    assert not (killed / "checkpoint.pt").exists()
    pd.testing.assert_frame_equal(pd.read_csv(killed / "progress.csv"), pd.read_csv(reference / "progress.csv"))
    pd.testing.assert_frame_equal(pd.read_csv(killed / "pi0_eval.csv"), pd.read_csv(reference / "pi0_eval.csv"))
    a, b = (json.loads((d / "summary.json").read_text()) for d in (killed, reference))
    assert a["final_return"] == b["final_return"] and a["auc_return"] == b["auc_return"]


def test_rerunning_a_finished_run_changes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    assert train.main(_args(out)) == 0
    before = (out / "summary.json").read_bytes()
    assert train.main(_args(out)) == 0
    assert (out / "summary.json").read_bytes() == before


def test_a_diverged_run_is_recorded_not_crashed(tmp_path, monkeypatch, capsys):
    """A learning rate of 1e30 drives the weights to inf within a few updates."""
    out = tmp_path / "run"
    assert train.main(_args(out, lr="1e30", extra=["--preset", "smoke", "--steps-per-task", "400", "--workers", "2", "--unroll", "5"])) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "diverged"
    assert summary["diverged_at_step"] > 0
    assert summary["mean_final_return"] is None
    assert not (out / "checkpoint.pt").exists()
    assert load_run(out).diverged


@pytest.mark.parametrize(
    "change,message",
    [
        (dict(algo="KL"), "unknown algorithm 'KL'; valid: A3C, A3C_multitask, A3C_2col, KL_1col"),
        (dict(env="doom"), "unknown environment 'doom'; valid: maze, navigation, lasertag"),
        (dict(beta="0"), "beta must be > 0"),
        (dict(beta="-1"), "beta must be > 0"),
        (dict(lr="0"), "lr must be > 0"),
        (dict(lr="-2e-4"), "lr must be > 0"),
    ],
)
def test_bad_arguments_fail_with_one_line_and_write_nothing(tmp_path, capsys, change, message):
    out = tmp_path / "run"
    assert train.main(_args(out, **change)) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_missing_argument_and_bad_preset(tmp_path, capsys):
    assert train.main(["--algo", "A3C", "--env", "maze", "--out", str(tmp_path / "x")]) == 2
    assert "required" in capsys.readouterr().err
    assert train.main(_args(tmp_path / "y", extra=["--preset", "huge"])) == 2
    assert "unknown preset 'huge'; valid: smoke, default, paper" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_out_dir_of_another_run_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert train.main(_args(out, seed=0)) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert train.main(_args(out, seed=1)) == 2
    assert "holds another run's files" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before

    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert train.main(_args(other)) == 2
    assert "notes.txt" in capsys.readouterr().err
    assert [p.name for p in other.iterdir()] == ["notes.txt"]


def _random_return(preset, workers=16, steps=4000):
    from distral_repro.envs import make_family

    env = make_family("maze", num_workers=workers, seed=123, preset=preset)
    env.reset(seed=123)
    rng = np.random.default_rng(0)
    ended = []
    for _ in range(steps):
        _, _, _, _, info = env.step(rng.integers(0, env.single_action_space.n, env.num_envs))
        if "_episode_return" in info:
            ended.extend(np.asarray(info["episode_return"])[info["_episode_return"]])
    return float(np.mean(ended))


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["A3C", "KL+ent_2col"])
def test_learning_beats_the_random_policy(tmp_path, algo):
    """60k steps per task on the small (smoke) mazes: the return clearly exceeds a random policy's."""
    random_return = _random_return("smoke")
    out = tmp_path / "run"
    extra = ["--preset", "smoke", "--steps-per-task", "60000", "--workers", "16", "--unroll", "20"]
    assert train.main(_args(out, algo=algo, beta="1000", lr="4e-3", extra=extra)) == 0
    progress = pd.read_csv(out / "progress.csv")
    by_step = progress.groupby("step")["episode_return"].mean()
    final = by_step.iloc[-2:].mean()
    assert final > 1.5 * random_return, (final, random_return, by_step.round(3).tolist())


def test_checkpoint_of_a_different_run_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    config, _, _ = train.parse(_args(out, seed=0))
    from distral_repro.learner import Learner

    learner = Learner(config)
    learner.train_update()
    train.RunWriter(out, config, threads=1).checkpoint(learner)
    assert train.main(_args(out, seed=1)) == 2
    err = capsys.readouterr().err
    assert "checkpoint of a different run" in err and "seed=0" in err
    assert [p.name for p in out.iterdir()] == ["checkpoint.pt"]


# ------------------------------------------------------------------ stops, signals, bad input

STOP_EXTRA = ["--preset", "smoke", "--steps-per-task", "2400", "--workers", "4", "--unroll", "10", "--threads", "1"]


def _run_files(out):
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.name not in ("summary.json", "provenance.json")}


def test_sigterm_at_random_points_then_rerun_ends_like_an_uninterrupted_run(tmp_path):
    """TERM (Snakemake stopping a job, Slurm preemption or time limit) at random moments.

    Each stopped attempt exits 143 with a checkpoint (or 0 if the run had finished); the
    reruns end with exactly the files of an uninterrupted run. Only the outcome is
    checked, never how long anything took.
    """
    reference = tmp_path / "reference"
    subprocess.run(_cli(reference, STOP_EXTRA), check=True)
    out = tmp_path / "stopped"
    rng = np.random.default_rng(15)
    codes = []
    while not (out / "summary.json").exists():
        assert len(codes) < 40, codes
        proc = subprocess.Popen(_cli(out, STOP_EXTRA), stderr=subprocess.PIPE, text=True)
        # Once the first checkpoint of this attempt is on disk (or at once on later attempts,
        # which start from one), wait a random moment and stop the job.
        start = (out / "checkpoint.pt").stat().st_mtime_ns if (out / "checkpoint.pt").exists() else 0
        while proc.poll() is None and not (
            (out / "checkpoint.pt").exists() and (out / "checkpoint.pt").stat().st_mtime_ns != start
        ):
            time.sleep(0.01)
        time.sleep(float(rng.uniform(0, 0.5)))
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate()
        codes.append(proc.returncode)
        assert proc.returncode in (0, 128 + signal.SIGTERM), err
        if proc.returncode:
            assert "stopped by SIGTERM" in err and err.count("\n") == 1, err
            assert (out / "checkpoint.pt").exists() and not (out / "summary.json").exists()
    assert 128 + signal.SIGTERM in codes, f"no attempt was stopped: {codes}"
    assert not (out / "checkpoint.pt").exists()
    assert _run_files(out) == _run_files(reference)
    a, b = (json.loads((d / "summary.json").read_text()) for d in (out, reference))
    assert a == b


def test_a_signal_after_the_summary_exits_0_and_keeps_the_run(tmp_path, monkeypatch):
    """The moment of the issue: TERM right after the summary is written."""
    out = tmp_path / "run"
    write_summary = train.RunWriter.summary

    def summary_then_term(self, learner, wall_time_s):
        result = write_summary(self, learner, wall_time_s)
        os.kill(os.getpid(), signal.SIGTERM)
        return result

    monkeypatch.setattr(train.RunWriter, "summary", summary_then_term)
    assert train.main(_args(out)) == 0
    assert load_run(out).status == "ok"
    assert sorted(p.name for p in out.iterdir()) == ["pi0_eval.csv", "progress.csv", "provenance.json", "summary.json"]


def test_files_deleted_after_the_summary_are_rebuilt_from_the_final_checkpoint(tmp_path, monkeypatch):
    """Killed between summary and checkpoint removal, the job looks failed: Snakemake deletes
    its outputs. The final checkpoint survives, so the rerun rebuilds the files, not retrains."""
    reference = tmp_path / "reference"
    assert train.main(_args(reference)) == 0
    out = tmp_path / "run"
    unlink = type(out).unlink

    def killed_before_unlink(self, missing_ok=False):
        if self.name == "checkpoint.pt":
            raise KeyboardInterrupt  # stands for SIGKILL: the process dies here
        return unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(type(out), "unlink", killed_before_unlink)
    with pytest.raises(KeyboardInterrupt):
        train.main(_args(out))
    monkeypatch.undo()
    for name in ("summary.json", "progress.csv", "pi0_eval.csv"):  # what Snakemake removes
        (out / name).unlink()
    learner_init = train.Learner.train_update
    monkeypatch.setattr(train.Learner, "train_update", lambda self: pytest.fail("retrained"))
    assert train.main(_args(out)) == 0
    monkeypatch.setattr(train.Learner, "train_update", learner_init)
    assert _run_files(out) == _run_files(reference)


def test_leftover_temporaries_are_removed_on_start(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / ".checkpoint.pt.abc123.tmp").write_bytes(b"x" * 1000)
    (out / ".progress.csv.xyz.tmp").write_text("step,task\n1,")
    assert train.main(_args(out)) == 0
    assert not list(out.glob(".*.tmp"))


def test_a_loss_past_the_bound_is_recorded_as_diverged(tmp_path):
    """lr 1e9 keeps the loss finite but drives the value loss far past any return scale."""
    out = tmp_path / "run"
    assert train.main(_args(out, lr="1e9", extra=["--preset", "smoke", "--steps-per-task", "400",
                                                   "--workers", "2", "--unroll", "5"])) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "diverged", summary
    assert "above the bound" in summary["diverged_reason"] or summary["diverged_reason"] == "non-finite loss"
    assert load_run(out).diverged


@pytest.mark.parametrize("seed,message", [(-1, "seed must be an integer in 0..4294967295"),
                                          (2**32, "seed must be an integer in 0..4294967295"),
                                          (2**64, "seed must be an integer in 0..4294967295")])
def test_out_of_range_seeds_are_refused_before_any_work(tmp_path, capsys, seed, message):
    out = tmp_path / "run"
    assert train.main(_args(out, seed=seed)) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_out_inside_a_run_directory_is_refused(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert train.main(_args(run_dir)) == 0
    before = sorted(p.name for p in run_dir.iterdir())
    assert train.main(_args(run_dir / "nested" / "deeper", seed=1)) == 2
    err = capsys.readouterr().err
    assert "lies inside the run directory" in err and err.count("\n") == 1
    assert sorted(p.name for p in run_dir.iterdir()) == before
    assert train.main(_args(run_dir)) == 0  # that run's own command still works


def test_unwritable_out_is_refused_with_one_line(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert train.main(_args(blocker / "run")) == 2
    err = capsys.readouterr().err
    assert "cannot write to --out" in err and err.count("\n") == 1
    if os.geteuid() != 0:  # root writes anywhere: only the file-as-parent case applies
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert train.main(_args(locked / "run")) == 2
        assert "cannot write to --out" in capsys.readouterr().err
        assert list(locked.iterdir()) == []


def test_progress_rows_are_written_as_pandas_would_write_them(tmp_path):
    """The training command writes its CSVs without pandas; the bytes are pandas' own."""
    from distral_repro.runio import atomic_write_rows

    rows = [{"step": 320, "task": 0, "episode_return": float("nan"), "episodes": 0},
            {"step": 320, "task": 1, "episode_return": np.float64(0.1) + 0.2, "episodes": np.int64(3)},
            {"step": 640, "task": 0, "episode_return": -1.5e-08, "episodes": 2}]
    columns = ["step", "task", "episode_return", "episodes"]
    ours = atomic_write_rows(tmp_path / "ours.csv", rows, columns).read_text()
    assert ours == pd.DataFrame(rows, columns=columns).to_csv(index=False)
    assert atomic_write_rows(tmp_path / "empty.csv", [], columns).read_text() == ",".join(columns) + "\n"
