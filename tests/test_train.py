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
        ["progress.csv", "summary.json"] + (["pi0_eval.csv"] if env == "maze" and algo != "A3C" else [])
    )
    run = load_run(out)  # the aggregation's own validator
    assert run.status == "ok" and run.algo == algo and run.env == env
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps_per_task"] >= 100
    assert summary["total_env_steps"] == summary["steps_per_task"] * len(run.tasks)
    assert summary["config"]["budget"]["workers"] == 2
    assert summary["steps_per_second"] > 0
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
    deadline = time.time() + 120
    while not (killed / "checkpoint.pt").exists() and time.time() < deadline and proc.poll() is None:
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
