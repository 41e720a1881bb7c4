"""User families defined by data (distral_repro.envs.specs): MiniGrid through the training
command, resume after SIGKILL, bad definitions refused before anything is written."""

from __future__ import annotations

import json
import re
import pickle
import signal
import subprocess
import sys
import time

import gymnasium
import numpy as np
import pandas as pd
import pytest
import yaml

import distral_repro.envs as envs
from distral_repro import train
from distral_repro.analysis.runs import load_run
from distral_repro.envs.specs import FamilySpec, family_specs, get_family, make_family_from_specs, parse_family

minigrid = pytest.importorskip("minigrid")

# The example family of docs/families.md: four small MiniGrid tasks, identical spaces once encoded.
MINIGRID4_IDS = [
    "minigrid:MiniGrid-Empty-5x5-v0",
    "minigrid:MiniGrid-Empty-Random-5x5-v0",
    "minigrid:MiniGrid-DoorKey-5x5-v0",
    "minigrid:MiniGrid-LavaGapS5-v0",
]


def _definition(**changes) -> dict:
    definition = {
        "env_ids": list(MINIGRID4_IDS),
        "wrappers": ["minigrid_onehot"],
        "episode_cap": 30,
        "budget": {"steps_per_task": 120, "workers": 2, "unroll": 10, "log_points": 4},
    }
    definition.update(changes)
    return definition


def _env_file(tmp_path, **changes):
    path = tmp_path / "families.yaml"
    path.write_text(yaml.safe_dump({"families": {"minigrid4": _definition(**changes)}}))
    return path


def _args(out, env_file, algo="KL+ent_2col", extra=()):
    return ["--algo", algo, "--env", "minigrid4", "--env-file", str(env_file), "--beta", "100", "--lr", "1e-3",
            "--seed", "0", "--out", str(out), "--quiet", *extra]


# ----------------------------------------------------------------------------- the observation


def test_minigrid_onehot_is_minigrids_own_full_encoding_channels_first():
    from minigrid.wrappers import OneHotPartialObsWrapper

    from distral_repro.envs.custom import MiniGridOneHot

    ours = MiniGridOneHot(gymnasium.make("MiniGrid-DoorKey-5x5-v0"))
    theirs = OneHotPartialObsWrapper(gymnasium.make("MiniGrid-DoorKey-5x5-v0"))
    a, _ = ours.reset(seed=3)
    b, _ = theirs.reset(seed=3)
    assert a.shape == (20, 7, 7) and a in ours.observation_space
    rng = np.random.default_rng(0)
    for _ in range(200):
        assert np.array_equal(a, b["image"].transpose(2, 0, 1))
        action = int(rng.integers(7))
        a, _, terminated, truncated, _ = ours.step(action)
        b, *_ = theirs.step(action)
        if terminated or truncated:
            (a, _), (b, _) = ours.reset(), theirs.reset()


def test_a_locked_door_differs_from_an_open_one():
    from minigrid.core.constants import STATE_TO_IDX

    from distral_repro.envs.custom import MiniGridOneHot

    env = MiniGridOneHot(gymnasium.make("MiniGrid-DoorKey-5x5-v0"))
    image = np.zeros((7, 7, 3), dtype=np.uint8)
    image[..., 0] = 4  # door
    locked = env.observation({"image": image | np.array([0, 0, STATE_TO_IDX["locked"]], dtype=np.uint8)})
    opened = env.observation({"image": image | np.array([0, 0, STATE_TO_IDX["open"]], dtype=np.uint8)})
    assert not np.array_equal(locked, opened)


# ----------------------------------------------------------------------------- the family


def test_one_lookup_for_built_in_and_user_families():
    specs = family_specs({"minigrid4": _definition(reference_return=[0.9, 0.9, 0.8, 0.9])})
    assert list(specs) == ["maze", "navigation", "lasertag", "gridworld", "minigrid4"]
    assert specs["maze"].builtin and specs["maze"].reference_returns() is None
    assert get_family("minigrid4", specs).reference_returns() == (0.9, 0.9, 0.8, 0.9)
    assert parse_family("m", _definition(reference_return=1)).reference_returns() == (1.0,) * 4
    env = make_family_from_specs("minigrid4", specs, num_workers=3, seed=7)
    assert env.num_envs == 12 and env.num_tasks == 4 and env.max_episode_steps == 30
    assert list(env.task_ids) == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    maze = make_family_from_specs("maze", specs, num_workers=1, seed=0, preset="smoke")
    assert maze.num_tasks == 8
    # make_family reaches the same registry by name.
    assert envs.make_family("minigrid4", 1, seed=0, families={"minigrid4": _definition()}).num_envs == 4


def test_episode_statistics_pickling_and_identical_continuation():
    env = get_family("minigrid4", family_specs({"minigrid4": _definition()})).make(2, seed=0)
    env.reset()
    actions = np.random.default_rng(1).integers(0, 7, (140, env.num_envs))
    for t in range(40):
        env.step(actions[t])
    copy = pickle.loads(pickle.dumps(env))
    runs = []
    for e in (env, copy):
        trace, returns, lengths = [], [], []
        for t in range(40, 140):
            obs, reward, terminated, truncated, info = e.step(actions[t])
            trace.append((obs.copy(), reward.copy(), terminated.copy(), truncated.copy()))
            if "_episode_return" in info:
                mask = info["_episode_return"]
                returns += info["episode_return"][mask].tolist()
                lengths += info["episode_length"][mask].tolist()
                assert np.array_equal(mask, terminated | truncated)
        runs.append((trace, returns, lengths))
    (a, ra, la), (b, rb, lb) = runs
    assert all(all(np.array_equal(x, y) for x, y in zip(p, q)) for p, q in zip(a, b))
    assert ra == rb and la == lb and len(ra) >= 8 and max(la) <= 30


def test_a_list_of_ids_refuses_a_preset():
    with pytest.raises(ValueError, match="a family of gymnasium ids has none"):
        envs.make_family(MINIGRID4_IDS[:2], 1, preset="smoke", wrappers=[])


# ----------------------------------------------------------------------------- the training command


def test_training_on_a_user_family_writes_valid_files(tmp_path):
    out = tmp_path / "run"
    assert train.main(_args(out, _env_file(tmp_path))) == 0
    run = load_run(out)
    assert run.status == "ok" and run.env == "minigrid4" and len(run.tasks) == 4
    progress = pd.read_csv(out / "progress.csv")
    assert (progress["episodes"] > 0).all() and progress["episode_return"].notna().all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["family"]["env_ids"] == MINIGRID4_IDS
    assert summary["config"]["budget"]["workers"] == 2
    assert not (out / "pi0_eval.csv").exists()


def test_at_least_one_episode_per_worker(tmp_path):
    out = tmp_path / "run"
    env_file = _env_file(tmp_path, episode_cap=60, budget={"steps_per_task": 10, "workers": 2, "unroll": 5})
    assert train.main(_args(out, env_file)) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps_per_task"] >= 60 * 2


def test_kill_and_resume_on_a_user_family_ends_like_an_uninterrupted_run(tmp_path):
    env_file = _env_file(tmp_path, budget={"steps_per_task": 1600, "workers": 4, "unroll": 10, "log_points": 8})

    def cli(out):
        return [sys.executable, "-m", "distral_repro.train", *_args(out, env_file, extra=["--threads", "1"])]

    reference = tmp_path / "reference"
    subprocess.run(cli(reference), check=True)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(cli(killed))
    deadline = time.time() + 120
    while not (killed / "checkpoint.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "summary.json").exists() and (killed / "checkpoint.pt").exists()
    subprocess.run(cli(killed), check=True)
    assert sorted(p.name for p in killed.iterdir()) == sorted(p.name for p in reference.iterdir())
    pd.testing.assert_frame_equal(pd.read_csv(killed / "progress.csv"), pd.read_csv(reference / "progress.csv"))
    a, b = (json.loads((d / "summary.json").read_text()) for d in (killed, reference))
    assert a["final_return"] == b["final_return"] and a["auc_return"] == b["auc_return"]


def test_a_changed_definition_is_another_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert train.main(_args(out, _env_file(tmp_path))) == 0
    assert train.main(_args(out, _env_file(tmp_path, episode_cap=25))) == 2
    assert "holds another run's files" in capsys.readouterr().err


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(env_ids=MINIGRID4_IDS[:3] + ["minigrid:MiniGrid-NoSuchTask-v0"]), "unknown gymnasium env id 'minigrid:MiniGrid-NoSuchTask-v0'"),
        (dict(env_ids=["NoSuchEnv-v0"]), "unknown gymnasium env id 'NoSuchEnv-v0'"),
        (dict(env_ids=["nosuchpackage:Foo-v0"]), "No module named 'nosuchpackage'"),
        (dict(env_ids=["CartPole-v1", "MountainCar-v0"], wrappers=[]), "must share spaces: MountainCar-v0 has observation_space"),
        (dict(env_ids=MINIGRID4_IDS[:3] + ["CartPole-v1"]), "cannot build CartPole-v1 with its wrappers"),
        (dict(wrappers=["minigrid_onehott"]), "unknown wrapper 'minigrid_onehott'; valid: minigrid_onehot"),
        (dict(wrappers=[{"name": "minigrid_view_size", "args": {"size": 3}}]), "wrapper minigrid_view_size refused args {.size.: 3}.*unexpected keyword argument .size."),
        (dict(episode_cap=None), "no episode cap; give episode_cap"),
        (dict(episode_cap=0), "episode_cap must be a positive integer"),
        (dict(budget={"workers": 2}), "budget needs steps_per_task"),
        (dict(budget={"steps_per_task": 10, "threads": 2}), "unknown key\\(s\\) threads"),
        (dict(reference_return=[1.0, 2.0]), "reference_return has 2 values for 4 tasks"),
        (dict(colour=True), "unknown key\\(s\\) colour"),
    ],
)
def test_bad_definitions_fail_with_one_line_and_write_nothing(tmp_path, capsys, changes, message):
    out = tmp_path / "run"
    assert train.main(_args(out, _env_file(tmp_path, **changes))) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("distral_repro.train: error:")
    assert re.search(message, err), err
    assert not out.exists()


def test_unknown_family_and_bad_env_file(tmp_path, capsys):
    out = tmp_path / "run"
    assert train.main(_args(out, _env_file(tmp_path))[:3] + ["minigrid5"] + _args(out, _env_file(tmp_path))[4:]) == 2
    assert "unknown environment 'minigrid5'; valid: maze, navigation, lasertag, or one defined under 'families:' (minigrid4)" in capsys.readouterr().err
    assert train.main(_args(out, tmp_path / "missing.yaml")) == 2
    assert "cannot read env file" in capsys.readouterr().err
    (tmp_path / "empty.yaml").write_text("seeds: [0]\n")
    assert train.main(_args(out, tmp_path / "empty.yaml")) == 2
    assert "has no 'families:' mapping" in capsys.readouterr().err
    with pytest.raises(ValueError, match="is a built-in family"):
        parse_family("maze", _definition())
    assert not out.exists()


def test_the_spec_round_trips_through_its_definition():
    spec = parse_family("minigrid4", _definition(reference_return=0.5, preset_budgets={"smoke": {"steps_per_task": 50}}))
    again = parse_family("minigrid4", spec.definition())
    assert again == spec and isinstance(again, FamilySpec)
    assert spec.budget_settings("smoke")["steps_per_task"] == 50 and spec.budget_settings("paper")["steps_per_task"] == 120


# ----------------------------------------------------------------------------- the workflow

TINY_FAMILY = {
    "env_ids": MINIGRID4_IDS,
    "wrappers": ["minigrid_onehot"],
    "episode_cap": 20,
    "budget": {"steps_per_task": 200, "workers": 2, "unroll": 10, "log_points": 4},
}


def _workflow_config(tmp_path, **changes):
    config = {
        "environments": ["maze", "minitiny"], "algorithms": ["A3C", "KL+ent_2col"], "seeds": [0, 1],
        "families": {"minitiny": TINY_FAMILY},
    }
    config.update(changes)
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(environments=["maze", "minitinyy"]), "'minitinyy' is neither a built-in family"),
        (dict(families={"minitiny": {**TINY_FAMILY, "budget": {"steps": 3}}}), "steps"),
        (dict(families={"maze": TINY_FAMILY}), "families"),
        (dict(families={"minitiny": {**TINY_FAMILY, "reference_return": [1, 2]}}), "'families.minitiny': reference_return has 2 values for 4 tasks"),
    ],
)
def test_bad_family_config_stops_before_any_job(tmp_path, changes, message):
    from test_workflow import copy_workflow, snakemake

    workdir = copy_workflow(tmp_path / "wf")
    proc = snakemake(workdir, "--cores", "1", "--config", "preset=smoke", "--configfile",
                     str(_workflow_config(tmp_path, **changes)), check=False)
    assert proc.returncode != 0 and message in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-2000:]
    assert not (workdir / "results").exists()


def test_the_default_config_defines_the_readme_family_and_slurm_plans_it(tmp_path):
    from test_workflow import REPO, copy_workflow, planned_jobs

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert config["families"]["minigrid4"]["env_ids"] == MINIGRID4_IDS
    workdir = copy_workflow(tmp_path / "wf")
    (workdir / "slurm").mkdir()
    (workdir / "slurm" / "config.yaml").write_bytes((REPO / "slurm" / "config.yaml").read_bytes())
    jobs = planned_jobs(workdir, "--config", "environments=[maze,minigrid4]")
    assert jobs["train"] == 7 * 2 * 3 * 3 * 2 and jobs["family_definition"] == 1
    assert planned_jobs(workdir, "--profile", "slurm", "--config", "environments=[maze,minigrid4]") == jobs


@pytest.mark.slow
def test_a_user_family_runs_through_the_whole_workflow(tmp_path):
    from test_workflow import copy_workflow, planned_jobs, snakemake

    workdir = copy_workflow(tmp_path / "wf")
    mine = _workflow_config(tmp_path)
    snakemake(workdir, "--cores", "2", "--config", "preset=smoke", "--configfile", str(mine))
    run = workdir / "results/runs/minitiny/KL+ent_2col/beta1000_lr4e-3_seed1"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["config"]["family"]["episode_cap"] == 20
    for ext in ("pdf", "png"):
        assert (workdir / "paper_figures" / f"fig4_minitiny.{ext}").exists()
    best = pd.read_csv(workdir / "results" / "tables" / "best_settings.csv")
    assert set(best["env"]) == {"maze", "minitiny"}
    curves = pd.read_csv(workdir / "results" / "tables" / "learning_curves.csv")
    assert "minitiny" in set(curves["env"])
    assert "minitiny" in (workdir / "results" / "metrics.json").read_text()
    # no scripted policy and no reference_return: the best return of the grid is the upper reference
    refs = pd.read_csv(workdir / "results" / "reference_scores.csv")
    tiny = refs[refs["env"] == "minitiny"]
    assert len(tiny) == len(TINY_FAMILY["env_ids"]) and set(tiny["upper_source"]) == {"best_in_grid"}
    assert tiny["upper_return"].isna().all() and tiny["random_episodes"].min() >= 256
    assert set(best.loc[best["env"] == "minitiny", "upper_reference"]) == {"best_in_grid"}
    assert "best final return observed in the grid" in (workdir / "results" / "claims.md").read_text()
    # Nothing left to do; editing the family's definition reruns exactly its runs.
    assert planned_jobs(workdir, "--config", "preset=smoke", "--configfile", str(mine)) == {}
    changed = _workflow_config(tmp_path, families={"minitiny": {**TINY_FAMILY, "episode_cap": 25}})
    jobs = planned_jobs(workdir, "--config", "preset=smoke", "--configfile", str(changed))
    assert jobs["train"] == 2 * 2 and jobs["family_definition"] == 1


def test_bench_envs_measures_a_user_family_beside_minigrids_loop(tmp_path, capsys):
    from distral_repro.bench.envs import main

    out = tmp_path / "bench.json"
    assert main(["--env-file", str(_env_file(tmp_path)), "--families", "minigrid4", "--num-envs", "8",
                 "--seconds", "0.2", "--minigrid-ids", "MiniGrid-Empty-5x5-v0", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["results"]
    assert [r["name"] for r in rows] == ["minigrid4", "MiniGrid-Empty-5x5-v0"]
    assert rows[0]["tasks"] == 4 and rows[0]["envs"] == 8
    assert "| minigrid4 | 4 | 8 |" in capsys.readouterr().out
