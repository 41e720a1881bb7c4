"""Bad inputs found by trying the package as a new user would (issue 27): each is refused
before any work with one line naming the file, key or argument, a non-zero exit, and
nothing written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from distral_repro import train
from distral_repro.analysis import aggregate
from distral_repro.envs import custom
from tests.test_analysis import small_study_dirs, write_references
from tests.test_workflow import copy_workflow, snakemake

REPO = Path(__file__).resolve().parents[1]
TRAIN = ["--algo", "A3C", "--beta", "1", "--lr", "1e-3", "--seed", "0", "--preset", "smoke"]
BUDGET = {"steps_per_task": 1000, "workers": 2, "unroll": 5}


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def family_file(tmp_path: Path, body: dict, name: str = "fam") -> Path:
    path = tmp_path / "families.yaml"
    path.write_text(yaml.safe_dump({"families": {name: {"budget": BUDGET, **body}}}))
    return path


@pytest.fixture
def user_modules(tmp_path, monkeypatch):
    """Modules that fail on import: a RuntimeError and a SyntaxError inside user code."""
    (tmp_path / "raising_mod.py").write_text("raise RuntimeError('boom in user code')\n")
    (tmp_path / "syntax_mod.py").write_text("def f(:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


MINIGRID = "minigrid:MiniGrid-Empty-5x5-v0"


@pytest.mark.parametrize(
    "body, expected",
    [
        # 1: a user module raising on import
        ({"env_ids": ["raising_mod:Foo-v0"]}, "module 'raising_mod' raised on import (RuntimeError: boom in user code)"),
        ({"env_ids": ["syntax_mod:Foo-v0"]}, "module 'syntax_mod' has a syntax error"),
        ({"env_ids": [MINIGRID], "wrappers": ["raising_mod:Wrap"], "episode_cap": 10}, "module 'raising_mod' raised on import"),
        # 2: wrapper arguments the wrapper rejects with an assert
        ({"env_ids": [MINIGRID], "episode_cap": 10,
          "wrappers": [{"name": "minigrid_view_size", "args": {"agent_view_size": 4}}, "minigrid_onehot"]},
         "wrapper minigrid_view_size refused args {'agent_view_size': 4} on MiniGrid-Empty-5x5-v0 (AssertionError); "
         "it takes agent_view_size: an odd integer >= 3"),
        # 3: families the networks cannot train on
        ({"env_ids": [MINIGRID], "episode_cap": 10}, "the networks need image observations"),
        ({"env_ids": ["CartPole-v1"]}, "the networks need image observations"),
        ({"env_ids": ["Pendulum-v1"]}, "the networks need image observations"),
    ],
    ids=["import-RuntimeError", "import-SyntaxError", "wrapper-import-error", "wrapper-assert", "dict-obs",
         "vector-obs", "continuous"],
)
def test_a_bad_user_family_is_refused_before_anything_is_written(tmp_path, capsys, user_modules, body, expected):
    pytest.importorskip("minigrid")
    env_file = family_file(tmp_path, body)
    out = tmp_path / "run"
    assert train.main([*TRAIN, "--env", "fam", "--env-file", str(env_file), "--out", str(out)]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("distral_repro.train: error: family 'fam': ") and expected in line, line
    assert not out.exists()


def test_continuous_actions_are_refused_by_name():
    import gymnasium

    with pytest.raises(ValueError, match="Discrete action space"):
        custom.check_trainable_spaces(
            gymnasium.spaces.Box(0, 1, (3, 5, 5)), gymnasium.spaces.Box(-1, 1, (2,)), "family 'x'")


def test_the_smallest_view_is_the_networks_kernel():
    from distral_repro.networks import KERNEL

    assert custom.MIN_VIEW == KERNEL


@pytest.mark.parametrize(
    "extra, expected",
    [
        # 4: hyper settings out of range
        (["--hyper", "gamma=2"], "gamma must be > 0 and <= 1, got '2'"),
        (["--hyper", "rmsprop_alpha=5"], "rmsprop_alpha must be > 0 and < 1, got '5'"),
        (["--hyper", "rmsprop_alpha=1"], "rmsprop_alpha must be > 0 and < 1, got '1'"),
        (["--hyper", "hidden=0.5"], "hidden must be a positive integer, got '0.5'"),
        (["--hyper", "conv_channels=2.5"], "conv_channels must be a positive integer"),
    ],
)
def test_hyper_settings_out_of_range_are_refused(tmp_path, capsys, extra, expected):
    out = tmp_path / "run"
    assert train.main([*TRAIN, "--env", "maze", "--out", str(out), *extra]) == 2
    assert expected in one_line(capsys.readouterr().err)
    assert not out.exists()


def test_gamma_of_one_is_allowed():
    from distral_repro.config import make_hyper

    assert make_hyper({"gamma": "1"}).gamma == 1.0


def test_empty_out_is_refused(tmp_path, capsys, monkeypatch):
    # 6: --out "" would put the run's files into the current directory
    monkeypatch.chdir(tmp_path)
    assert train.main([*TRAIN, "--env", "maze", "--out", ""]) == 2
    assert "--out must name a run directory" in one_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "content, expected",
    [
        # 5: a family named like a built-in one in --env-file
        (yaml.safe_dump({"families": {"maze": {"env_ids": ["CartPole-v1"], "budget": BUDGET}}}).encode(),
         "family name 'maze' is a built-in family"),
        # 10: not UTF-8; unparsable YAML with its position
        (b"families:\n  fam: {env_ids: [\xff\xfe]}\n", "is not UTF-8 text (byte 0xff at offset 28)"),
        (b"families:\n  fam:\n    env_ids: [a\n   b: c\n", "is not valid YAML: expected ',' or ']', but got ':' at line 4, column 5"),
    ],
    ids=["builtin-name", "not-utf8", "bad-yaml"],
)
def test_a_bad_env_file_is_named(tmp_path, capsys, content, expected):
    env_file = tmp_path / "families.yaml"
    env_file.write_bytes(content)
    out = tmp_path / "run"
    assert train.main([*TRAIN, "--env", "maze", "--env-file", str(env_file), "--out", str(out)]) == 2
    line = one_line(capsys.readouterr().err)
    assert str(env_file) in line and expected in line, line
    assert not out.exists()


# ---- aggregate: items 7-9 ----------------------------------------------------------------------


def _cut_progress_row(run_dir: Path) -> None:
    """The last row cut after the task field, still ending in a newline (`1600,7,0.0`)."""
    lines = (run_dir / "progress.csv").read_text().splitlines()
    lines[-1] = ",".join(lines[-1].split(",")[:3])
    (run_dir / "progress.csv").write_text("\n".join(lines) + "\n")


def _cut_pi0_row(run_dir: Path) -> None:
    lines = (run_dir / "pi0_eval.csv").read_text().splitlines()
    (run_dir / "pi0_eval.csv").write_text("\n".join(lines[:-1]) + "\n")


def _cut_pi0_point(run_dir: Path) -> None:
    pi0 = pd.read_csv(run_dir / "pi0_eval.csv")
    pi0[pi0["step"] < pi0["step"].max()].to_csv(run_dir / "pi0_eval.csv", index=False)


def _delete_pi0(run_dir: Path) -> None:
    (run_dir / "pi0_eval.csv").unlink()


def _edit_pi0_final(run_dir: Path) -> None:
    pi0 = pd.read_csv(run_dir / "pi0_eval.csv")
    pi0.loc[pi0.index[-1], "episode_return"] += 1.0
    pi0.to_csv(run_dir / "pi0_eval.csv", index=False)


@pytest.mark.parametrize(
    "breakage, expected",
    [
        (_cut_progress_row, "progress.csv line 21 has 3 fields, the header 9"),
        (_cut_pi0_row, "pi0_eval.csv: task 1 has fewer evaluation points"),
        (_cut_pi0_point, "pi0_eval.csv ends at step"),
        (_delete_pi0, "pi0_eval.csv is missing, but summary.json has pi0_final_return"),
        (_edit_pi0_final, "pi0_eval.csv's last point differs from summary.json's pi0_final_return"),
    ],
    ids=["progress-field-count", "pi0-row", "pi0-point", "pi0-deleted", "pi0-edited"],
)
def test_aggregate_refuses_a_cut_run_file_naming_the_run(tmp_path, capsys, breakage, expected):
    dirs, _ = small_study_dirs(tmp_path)
    broken = dirs[4]  # KL+ent_2col seed 0: has pi0_eval.csv
    assert (broken / "pi0_eval.csv").exists()
    breakage(broken)
    out = tmp_path / "results"
    refs = write_references(tmp_path / "reference_scores.csv")
    assert aggregate.main(["--results-dir", str(out), "--references", str(refs), *map(str, dirs)]) == 1
    line = one_line(capsys.readouterr().err)
    assert str(broken) in line and expected in line, line
    assert not out.exists()


@pytest.mark.parametrize("kind", ["a-file", "under-a-file"])
def test_aggregate_checks_an_unwritable_results_dir_before_computing(tmp_path, capsys, monkeypatch, kind):
    dirs, _ = small_study_dirs(tmp_path)
    refs = write_references(tmp_path / "reference_scores.csv")
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory\n")
    out = blocker if kind == "a-file" else blocker / "results"
    computed = []
    monkeypatch.setattr(aggregate, "write_outputs", lambda *a: computed.append(a) or [])
    assert aggregate.main(["--results-dir", str(out), "--references", str(refs), *map(str, dirs)]) == 1
    line = one_line(capsys.readouterr().err)
    assert f"cannot write under --results-dir {out}" in line, line
    assert computed == [] and blocker.read_text() == "not a directory\n"


# ---- SIGTERM while a job starts: item 11 ---------------------------------------------------------


@pytest.mark.parametrize("delay", [0.3, 1.2])
def test_sigterm_while_starting_exits_143_with_one_line(tmp_path, delay):
    """TERM during imports (0.3 s) or the checks: 143, one line, nothing left behind."""
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "distral_repro.train", *TRAIN, "--env", "maze", "--out", str(out),
                             "--quiet"], env=env, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 143 and "checkpoint written" in err:  # a very fast host already trained: still 143
        return
    assert proc.returncode == 143, err
    assert "stopped by SIGTERM while starting; nothing written" in one_line(err)
    assert not out.exists()


def test_sigterm_during_the_checks_of_main_exits_143_and_removes_the_new_run_dir(tmp_path, capsys, monkeypatch):
    """A signal caught while parse() runs (checkpoint comparison, family checks) is honoured before training."""
    out = tmp_path / "new" / "run"
    real_parse = train.parse

    def parse_then_signal(argv):
        parsed = real_parse(argv)
        os.kill(os.getpid(), signal.SIGTERM)
        return parsed

    monkeypatch.setattr(train, "parse", parse_then_signal)
    assert train.main([*TRAIN, "--env", "maze", "--out", str(out)]) == 143
    assert "stopped by SIGTERM while starting" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "new").exists()


# ---- the workflow: item 10 -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def workflow(tmp_path_factory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("wf"))


def _family(**changes) -> dict:
    return {"families": {"fam": {"env_ids": [MINIGRID], "wrappers": ["minigrid_onehot"], "episode_cap": 10,
                                 "budget": BUDGET, **changes}},
            "environments": ["fam"]}


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"seeds": [-1]}, "config key 'seeds[0]': -1 must be an integer in 0..4294967295"),
        ({"no_such_key": 1}, "config: unknown key(s) 'no_such_key'; valid: preset, algorithms"),
        ({"algorithms": ["A3C", "X"]}, "config key 'algorithms[1]': 'X' is not allowed; valid: A3C"),
        ({"betas": ["0"]}, "config key 'betas': '0' must be > 0"),
        (_family(env_ids=["minigrid:MiniGrid-NoSuch-v0"]), "config key 'families.fam': unknown gymnasium env id"),
        (_family(wrappers=["no_such_wrapper"]), "config key 'families.fam': unknown wrapper 'no_such_wrapper'"),
        (_family(wrappers=[{"name": "minigrid_view_size", "args": {"agent_view_size": 4}}, "minigrid_onehot"]),
         "config key 'families.fam': wrapper minigrid_view_size refused args"),
        (_family(wrappers=[]), "config key 'families.fam': the networks need image observations"),
    ],
    ids=["negative-seed", "unknown-key", "unknown-algo", "zero-beta", "unregistered-id", "unknown-wrapper",
         "wrapper-args", "dict-obs"],
)
def test_a_bad_config_is_refused_in_one_line_by_a_dry_run(workflow, tmp_path, overrides, expected):
    pytest.importorskip("minigrid")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(overrides))
    proc = snakemake(workflow, "-n", "--configfile", str(bad), check=False)
    assert proc.returncode == 1
    ours = [line for line in (proc.stdout + proc.stderr).splitlines()
            if line.strip() and not line.startswith(("Using workflow specific profile", "Config file"))]
    assert len(ours) == 1 and expected in ours[0], ours
    assert not (workflow / "results").exists() and not (workflow / "logs").exists()
