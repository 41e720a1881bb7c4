"""Tests of distral_repro.analysis: statistics, tables, claim verdicts, CLIs, figures.

Run directories are written by hand in tmp_path (`write_run`, `write_gridworld_run`)
following docs/contracts.md, with curves simple enough to work the numbers out by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from distral_repro.analysis import aggregate, figures, stats
from distral_repro.analysis.claims import Claim, evaluate_claims
from distral_repro.analysis.preregistration import load_preregistration
from distral_repro.analysis.runs import RunFileError, load_gridworld_runs, load_runs
from distral_repro.analysis.scores import MissingReferenceError, References, normalise
from distral_repro.analysis.stats import CONTRADICTED, NOT_RESOLVED, SUPPORTED
from distral_repro.analysis.tables import Study, common_curves

STEPS = np.arange(1, 11) * 100  # 10 evaluation points; the last 10% of steps is the last point


def reference_table(envs=("maze", "navigation", "lasertag"), tasks: int = 2) -> pd.DataFrame:
    """Task t: random 0.1 t, scripted 10 + 0.1 t, so that a `ramp` curve scores (its value) / 10."""
    return pd.DataFrame(
        [{"env": env, "preset": "test", "task": t, "random_return": 0.1 * t, "random_ci": 0.0, "random_episodes": 1,
          "upper_return": 10.0 + 0.1 * t, "upper_ci": 0.0, "upper_episodes": 1, "upper_source": "scripted"}
         for env in envs for t in range(tasks)]
    )


REFS = References(reference_table())
#: The repository's pre-registration (config/claims.yaml): Distral = KL+ent_2col.
PREREG = load_preregistration(aggregate.DEFAULT_CLAIMS)


def claim_of(study, name: str, gridworld=()) -> Claim:
    """One claim of the repository's pre-registration, decided on `study` (a Study or Stages)
    together with every other primary test (Holm), without the calibration simulations."""
    claims, _ = evaluate_claims(study, list(gridworld), PREREG, calibrated=False)
    return next(c for c in claims if c.claim == name)


def comparisons(claim: Claim) -> list:
    return [c for t in claim.tests for c in t.comparisons]


def study_of(dirs) -> Study:
    return Study(load_runs(dirs), REFS)


def write_references(path: Path, **kwargs) -> Path:
    reference_table(**kwargs).to_csv(path, index=False)
    return path


def write_run(root: Path, env: str, algo: str, beta: float, lr: float, seed: int, curves,
              status: str = "ok", pi0_curves=None, task_eval_curves=None) -> Path:
    """Write a run dir per the contract; curves: (num_tasks, 10) returns at STEPS; pi0_curves and
    task_eval_curves: pi_0's and the task policies' returns on pi_0's evaluation episodes (without
    task_eval_curves, pi0_eval.csv is written as runs made before the matched evaluation were)."""
    curves = np.asarray(curves, dtype=float)
    run_dir = root / "runs" / env / algo / f"beta{beta:g}_lr{lr:g}_seed{seed}"
    run_dir.mkdir(parents=True)
    rows = [
        {"step": int(step), "task": task, "episode_return": curves[task, i], "episodes": 3, "policy_loss": 0.1,
         "value_loss": 0.2, "distill_loss": 0.0, "kl": 0.0, "entropy": 1.0}
        for i, step in enumerate(STEPS) for task in range(len(curves))
    ]
    pd.DataFrame(rows).to_csv(run_dir / "progress.csv", index=False)
    ok = status == "ok"
    final = {str(t): float(c[-1]) if ok else None for t, c in enumerate(curves)}
    auc = {str(t): float(c.mean()) if ok else None for t, c in enumerate(curves)}
    summary = {
        "status": status, "algo": algo, "env": env, "beta": beta, "lr": lr, "seed": seed, "preset": "test",
        "final_return": final, "auc_return": auc,
        "mean_final_return": float(curves[:, -1].mean()) if ok else None,
        "mean_auc_return": float(curves.mean()) if ok else None,
        "pi0_final_return": None, "diverged_at_step": None if ok else int(STEPS[-1]),
        "steps_per_task": int(STEPS[-1]), "total_env_steps": int(STEPS[-1]) * len(curves),
        "wall_time_s": 1.0, "steps_per_second": 1000.0, "config": {}, "version": "0", "git_commit": "x",
    }
    if pi0_curves is not None:
        pi0_curves = np.asarray(pi0_curves, dtype=float)
        rows = [{"step": int(s), "task": t, "episode_return": pi0_curves[t, i]}
                for i, s in enumerate(STEPS) for t in range(len(pi0_curves))]
        if task_eval_curves is not None:
            matched = np.asarray(task_eval_curves, dtype=float)
            for row in rows:
                row["task_policy_return"] = matched[row["task"], list(STEPS).index(row["step"])]
        pd.DataFrame(rows).to_csv(run_dir / "pi0_eval.csv", index=False)
        summary["pi0_final_return"] = {str(t): float(c[-1]) for t, c in enumerate(pi0_curves)}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


def write_gridworld_run(root: Path, method: str, seed: int, curves) -> Path:
    """Grid-world run dir; curves: (num_tasks, num_episodes) episode returns."""
    curves = np.asarray(curves, dtype=float)
    run_dir = root / "gridworld" / method / f"seed{seed}"
    run_dir.mkdir(parents=True)
    pd.DataFrame(
        [{"episode": e, "task": t, "episode_return": curves[t, e], "episode_length": 10, "reached_goal": 1}
         for t in range(len(curves)) for e in range(curves.shape[1])]
    ).to_csv(run_dir / "progress.csv", index=False)
    summary = {
        "status": "ok", "method": method, "seed": seed, "config": {},
        "final_return": {str(t): float(c[-10:].mean()) for t, c in enumerate(curves)},
        "auc_return": {str(t): float(c.mean()) for t, c in enumerate(curves)},
        "mean_final_return": float(curves[:, -10:].mean()), "mean_auc_return": float(curves.mean()),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


def ramp(final: float, tasks: int = 2, start: float = 0.0) -> np.ndarray:
    """(tasks, 10) linear curves from `start` to `final` (task t adds t * 0.1)."""
    return np.array([np.linspace(start, final, len(STEPS)) + 0.1 * t for t in range(tasks)])


def grid_of(root: Path, env: str, algo: str, final: float, seeds: int = 4, **kwargs) -> list[Path]:
    """One setting, several seeds whose final returns differ by +-0.1 around `final`."""
    return [write_run(root, env, algo, 1e3, 2e-4, s, ramp(final + 0.1 * (s - seeds / 2)), **kwargs)
            for s in range(seeds)]


# ---- statistics ---------------------------------------------------------------------------


def test_mean_score_ci_hand_numbers():
    scores = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])  # (num_runs=4, num_tasks=2)
    mean, low, high = stats.mean_score_ci(scores)
    assert mean == pytest.approx(4.5)
    assert 1.5 <= low < mean < high <= 7.5  # resampled means stay within the column means' range
    assert stats.mean_score_ci(scores) == (mean, low, high)  # seeded: reproducible
    assert stats.mean_score_ci(np.full((4, 3), 2.5)) == (2.5, 2.5, 2.5)  # no spread, no width
    one_run = stats.mean_score_ci(np.array([[1.0, 3.0]]))
    assert one_run[0] == 2.0 and np.isnan(one_run[1]) and np.isnan(one_run[2])


def test_curve_ci_and_ratio_and_iqr():
    curves = np.stack([np.ones((2, 5)), 3 * np.ones((2, 5))])  # (num_runs=2, num_tasks=2, num_steps=5)
    mean, low, high = stats.curve_ci(curves)
    assert mean.shape == (5,) and np.allclose(mean, 2.0)
    assert np.all(low >= 1.0) and np.all(high <= 3.0)
    task = np.array([[2.0, 4.0], [6.0, 8.0]])
    ratio = stats.normalised_gap_ci(1.0 + 0.5 * (task - 1.0), task, floor=1.0)  # pi_0 closes half the gap
    assert ratio == pytest.approx((0.5, 0.5, 0.5))
    assert stats.interquartile_range(np.array([1.0, 2.0, 3.0, 4.0, 5.0])) == 2.0
    iqr, low, high = stats.interquartile_range_ci(np.arange(9.0))
    assert iqr == 4.0 and low <= iqr <= high


def test_interquartile_mean_of_a_known_array():
    # 8 scores sorted: 0 0 1 2 3 4 5 9 -> 25% trimmed at each end -> mean of 1 2 3 4
    scores = np.array([[1.0, 2.0], [3.0, 4.0], [0.0, 0.0], [5.0, 9.0]])
    iqm, low, high = stats.iqm_ci(scores)
    assert iqm == 2.5 and low <= iqm <= high
    assert stats.iqm_ci(np.full((4, 2), 0.3))[0] == pytest.approx(0.3)


def test_probability_of_improvement_worked_by_hand():
    # Task 0: X = {1, 3}, Y = {2, 2}: pairs (1,2) (1,2) lose, (3,2) (3,2) win -> 2/4 = 0.5.
    # Task 1: X = {5, 4}, Y = {4, 1}: 5>4, 5>1, 4=4 (a tie: 1/2), 4>1 -> 3.5/4 = 0.875.
    x = np.array([[1.0, 5.0], [3.0, 4.0]])
    y = np.array([[2.0, 4.0], [2.0, 1.0]])
    p, low, high = stats.probability_of_improvement_ci(x, y)
    assert p == pytest.approx((0.5 + 0.875) / 2)
    assert 0.0 <= low <= p <= high <= 1.0
    assert stats.probability_of_improvement_ci(y, x)[0] == pytest.approx(1 - p)  # ties split evenly
    assert stats.probability_of_improvement_ci(x + 10, x)[:3] == (1.0, 1.0, 1.0)  # X always above
    # unpaired: the two samples may have different numbers of runs
    assert stats.probability_of_improvement_ci(x[:1], y)[0] == pytest.approx((0.0 + 1.0) / 2)


def test_performance_profile_at_three_taus():
    scores = np.array([[0.1, 0.9], [0.5, 0.6], [0.7, 1.2], [-0.2, 0.3]])  # 4 runs x 2 tasks
    taus = np.array([0.0, 0.5, 1.0])
    profile, low, high = stats.performance_profile_ci(scores, taus)
    # task 0 above tau: 3/4, 1/4 (0.5 is not above 0.5), 0/4; task 1: 4/4, 3/4, 1/4
    assert profile == pytest.approx([(3 / 4 + 1) / 2, (1 / 4 + 3 / 4) / 2, (0 + 1 / 4) / 2])
    assert np.all(low <= profile) and np.all(profile <= high)
    assert np.all(np.diff(profile) <= 0)  # a profile never rises with tau


def test_statistics_agree_with_rliable():
    # rliable 1.2.0 (in a separate environment with pandas 2.3, as it does not import beside
    # pandas 3) gave on this array: aggregate_iqm 0.5587330957849985, probability_of_improvement
    # 0.65625, create_performance_profile at (0, 0.5, 1): 0.9375, 0.65625, 0.125.
    rng = np.random.default_rng(3)
    x, y = rng.normal(0.6, 0.3, (4, 8)), rng.normal(0.4, 0.3, (4, 8))
    assert stats.iqm_ci(x)[0] == pytest.approx(0.5587330957849985)
    assert stats.probability_of_improvement_ci(x, y)[0] == pytest.approx(0.65625)
    assert stats.performance_profile_ci(x, np.array([0.0, 0.5, 1.0]))[0] == pytest.approx([0.9375, 0.65625, 0.125])


def test_normalise_and_limits():
    assert normalise(np.array([5.0, 0.5]), np.array([1.0, 0.5]), np.array([9.0, 2.5])) == pytest.approx([0.5, 0.0])
    assert normalise(1.0, 1.0, 3.0) == 0.0 and normalise(3.0, 1.0, 3.0) == 1.0  # random -> 0, upper -> 1
    assert normalise(-1.0, 1.0, 3.0) == -1.0  # worse than random is negative
    rows = normalise(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0, 2.0]), np.array([3.0, 6.0]))
    assert rows == pytest.approx(np.array([[0.0, 0.0], [1.0, 0.5]]))  # per task (last axis)


def test_verdict_and_combine_primaries():
    assert stats.verdict(0.01, +1, 0.05) == SUPPORTED
    assert stats.verdict(0.05, -1, 0.05) == CONTRADICTED
    assert stats.verdict(0.051, +1, 0.05) == NOT_RESOLVED
    assert stats.verdict(np.nan, +1, 0.05) == NOT_RESOLVED  # not tested (missing data)
    assert stats.combine_primaries([SUPPORTED, SUPPORTED]) == SUPPORTED
    assert stats.combine_primaries([SUPPORTED, NOT_RESOLVED]) == NOT_RESOLVED
    assert stats.combine_primaries([SUPPORTED, NOT_RESOLVED, CONTRADICTED]) == CONTRADICTED
    assert stats.combine_primaries([]) == NOT_RESOLVED


def test_common_curves_interpolates_onto_shared_steps():
    a = pd.DataFrame({"step": [100, 200, 300], "task": 0, "episode_return": [0.0, 1.0, 2.0]})
    b = pd.DataFrame({"step": [150, 250], "task": 0, "episode_return": [5.0, 7.0]})
    steps, values = common_curves([a, b], (0,))
    assert list(steps) == [150, 200, 250]
    assert values.shape == (2, 1, 3)
    assert np.allclose(values[0, 0], [0.5, 1.0, 1.5]) and np.allclose(values[1, 0], [5.0, 6.0, 7.0])


# ---- tables ---------------------------------------------------------------------------------


def test_best_setting_is_chosen_by_the_late_score_not_auc(tmp_path):
    early = np.array([[2.0] * 10, [4.0] * 10])  # AUC 3, late score 3: the higher AUC
    late = np.array([[0.0] * 7 + [10.0] * 3, [0.0] * 7 + [10.0] * 3])  # AUC 3, late score 10 (steps 800-1000)
    dirs = [write_run(tmp_path, "maze", "A3C", 1e3, 2e-4, s, early + s) for s in range(2)]
    dirs += [write_run(tmp_path, "maze", "A3C", 3e3, 4e-4, s, late) for s in range(2)]
    # Highest scores of all, but one of its runs diverged: not eligible as the best setting.
    dirs += [write_run(tmp_path, "maze", "A3C", 1e4, 8e-4, 0, early + 10),
             write_run(tmp_path, "maze", "A3C", 1e4, 8e-4, 1, early, status="diverged")]
    study = study_of(dirs)
    best = study.best_settings_table().iloc[0]
    assert (best["beta"], best["lr"]) == (3e3, 4e-4)
    # normalised per task: (value - (0, 0.1)) / 10. AUC (3, 3) -> (0.3, 0.29); the early setting's mean
    # AUC score, ((2, 4) - (0, 0.1)) / 10 and + 0.1 for seed 1 -> 0.345, is higher: AUC would pick it.
    assert best["auc_score"] == pytest.approx(0.295)
    assert best["late_score"] == pytest.approx(0.995) and best["final_score"] == pytest.approx(0.995)
    settings = study.settings_table().set_index(["beta", "lr"])
    assert settings.loc[(1e3, 2e-4), "auc_score"] == pytest.approx(0.345)
    assert settings.loc[(1e3, 2e-4), "late_score"] == pytest.approx(0.345)
    assert list(settings["best"]) == [False, True, False]
    raw = study.best_settings_returns_table().iloc[0]
    assert raw["auc_return"] == pytest.approx(3.0) and raw["final_return"] == pytest.approx(10.0)
    assert (best["runs"], best["diverged"], best["seeds"]) == (6, 1, 2)
    assert best["fraction_diverged"] == pytest.approx(1 / 6)


def test_learning_curve_is_mean_over_tasks_and_seeds(tmp_path):
    dirs = [write_run(tmp_path, "maze", "A3C", 1e3, 2e-4, s, ramp(1.0 + s)) for s in range(2)]
    curves = study_of(dirs).learning_curves_table()
    assert list(curves["step"]) == list(STEPS)
    # normalised, every task's ramp scores value / 10: seeds' finals 1 and 2 -> (0.1 + 0.2) / 2
    assert curves["mean_score"].iloc[-1] == pytest.approx(0.15)
    assert np.all(curves["ci_low"] <= curves["mean_score"]) and np.all(curves["mean_score"] <= curves["ci_high"])


# ---- claims ---------------------------------------------------------------------------------


def c1_study(tmp_path: Path, distral_final: float, envs=("maze", "navigation")) -> Study:
    dirs = []
    for env in envs:
        for algo in ("A3C", "A3C_multitask", "A3C_2col"):
            dirs += grid_of(tmp_path, env, algo, 5.0)
        dirs += grid_of(tmp_path, env, "KL+ent_2col", distral_final)
    return study_of(dirs)


def test_c1_supported_when_distral_is_clearly_better(tmp_path):
    claim = claim_of(c1_study(tmp_path, distral_final=10.0), "C1")
    assert claim.verdict == SUPPORTED
    assert [t.test.name for t in claim.tests] == ["learning speed", "final score"]  # the two primary tests
    assert [len(t.comparisons) for t in claim.tests] == [6, 6]  # 2 envs x 3 baselines each


def test_c1_contradicted_when_distral_is_clearly_worse(tmp_path):
    assert claim_of(c1_study(tmp_path, distral_final=1.0), "C1").verdict == CONTRADICTED


def test_c1_not_resolved_when_close_or_env_missing(tmp_path):
    assert claim_of(c1_study(tmp_path / "a", distral_final=5.05), "C1").verdict == NOT_RESOLVED
    claim = claim_of(c1_study(tmp_path / "b", distral_final=10.0, envs=("maze",)), "C1")
    assert claim.verdict == NOT_RESOLVED and "navigation: no runs" in claim.tests[0].reason


def test_c4_counts_diverged_runs_as_failures(tmp_path):
    dirs = grid_of(tmp_path, "maze", "KL+ent_2col", 5.0)
    for algo in ("A3C_multitask", "A3C_2col"):
        dirs += grid_of(tmp_path, "maze", algo, 5.0, seeds=3)
        dirs.append(write_run(tmp_path, "maze", algo, 3e3, 2e-4, 0, ramp(5.0), status="diverged"))
    study = study_of(dirs)
    assert study.results[("maze", "A3C_2col")].num_failed == 1
    failed = claim_of(study, "C4").tests[0]
    assert failed.test.score == "failed_fraction"
    # pre-registered over the three environments pooled: one missing leaves the test not resolved
    assert failed.comparisons[0].missing == "navigation: no runs of A3C_multitask"
    assert failed.verdict == NOT_RESOLVED
    finals, diverged = study.sorted_final_scores("maze", "A3C_2col")
    assert diverged == 1 and len(finals) == 3 and np.all(np.diff(finals) <= 0)


def test_statistics_do_not_depend_on_the_order_of_run_dirs(tmp_path):
    # bootstrap intervals resample runs in load order: a directory listing must not change them
    dirs = [write_run(tmp_path, "maze", "A3C", beta, 2e-4, s, ramp(1.0 + s + beta / 1e3))
            for beta in (1e3, 3e3) for s in range(4)]
    forward, backward = load_runs(dirs), load_runs(dirs[::-1])
    assert [r.run_dir for r in forward] == [r.run_dir for r in backward]
    finals = [Study(runs, REFS).normalised_finals("maze", "A3C") for runs in (forward, backward)]
    assert stats.interquartile_range_ci(finals[0]) == stats.interquartile_range_ci(finals[1])


def test_normalised_finals_and_robustness_iqr(tmp_path):
    # a ramp to 10 scores 1 on both tasks (random 0 / 0.1, scripted 10 / 10.1); diverged scores 0
    dirs = [write_run(tmp_path, "maze", "A3C", 1e3, 2e-4, 0, ramp(10.0)),
            write_run(tmp_path, "maze", "A3C", 1e3, 2e-4, 1, ramp(5.0)),
            write_run(tmp_path, "maze", "A3C", 1e3, 2e-4, 2, ramp(7.0), status="diverged")]
    study = study_of(dirs)
    assert study.normalised_finals("maze", "A3C") == pytest.approx([1.0, 0.5, 0.0])
    assert study.robustness_iqr("maze", "A3C") == pytest.approx(0.5)  # 0.75 - 0.25
    assert study.best_final["maze"] == pytest.approx(1.0)
    profile = study.performance_profile("maze", "A3C")
    assert profile.mean[0] == pytest.approx(2 / 3)  # tau = 0: the diverged run is not above it


def test_best_in_grid_upper_reference(tmp_path):
    table = reference_table(envs=("maze",))
    table["upper_return"], table["upper_source"] = np.nan, "best_in_grid"
    dirs = [write_run(tmp_path, "maze", "A3C", 1e3, 2e-4, s, ramp(final)) for s, final in ((0, 10.0), (1, 5.0))]
    study = Study(load_runs(dirs), References(table))
    assert study.refs["maze"].upper == pytest.approx([10.0, 10.1])  # the best final of each task
    assert study.normalised_finals("maze", "A3C") == pytest.approx([1.0, 0.5])
    assert set(study.best_settings_table()["upper_reference"]) == {"best_in_grid"}


def test_a_family_without_references_is_named(tmp_path):
    dirs = [write_run(tmp_path, "my_minigrid", "A3C", 1e3, 2e-4, 0, ramp(1.0))]
    with pytest.raises(MissingReferenceError, match="family 'my_minigrid'.*reference_return"):
        study_of(dirs)
    with pytest.raises(MissingReferenceError, match="is missing"):
        References.load(tmp_path / "nothing.csv")


def test_c3_entropy_trade_off(tmp_path):
    fast_then_flat = np.array([[0.0] + [5.0] * 9] * 2)  # early AUC (steps <= 250) 2.5, final 5
    slow_then_high = np.array([np.linspace(0.0, 10.0, 10)] * 2)  # early AUC 0.56, final 10
    dirs = [write_run(tmp_path, "maze", "KL_1col", 1e3, 2e-4, s, fast_then_flat + 0.01 * s) for s in range(3)]
    dirs += [write_run(tmp_path, "maze", "KL+ent_1col", 1e3, 2e-4, s, slow_then_high + 0.01 * s) for s in range(3)]
    claim = claim_of(study_of(dirs), "C3")
    early, final = (t.comparisons[0] for t in claim.tests)
    assert early.p_for < 1e-3 and final.p_for < 1e-3  # maze, 1col: both halves of the trade-off show
    assert claim.verdict == NOT_RESOLVED  # the 2col pair and the other envs are missing
    assert "no runs of KL_2col" in claim.tests[0].reason


def test_c6_pi0_share(tmp_path):
    dirs = []
    for s in range(4):  # training episodes reach ~10, but on the evaluation episodes the task policies reach ~5:
        task = ramp(10.0 + 0.1 * s + 0.3 * (s % 2))  # pi_0 at 0.8 of the latter (0.4 of the former)
        dirs.append(write_run(tmp_path / "good", "maze", "KL+ent_2col", 1e3, 2e-4, s, task,
                              pi0_curves=0.4 * task, task_eval_curves=0.5 * task))
    claim = claim_of(study_of(dirs), "C6")
    assert claim.verdict == SUPPORTED  # judged on the same episodes: 0.8 > 0.5 (the training curves would say 0.4)
    assert "on the same evaluation episodes at step 1000 (4 runs" in claim.tests[0].comparisons[0].numbers
    bad = [write_run(tmp_path / "bad", "maze", "KL+ent_2col", 1e3, 2e-4, s, ramp(10.0 + 0.1 * s + 0.3 * (s % 2)),
                     pi0_curves=0.2 * ramp(10.0 + 0.1 * s + 0.3 * (s % 2)),
                     task_eval_curves=ramp(10.0 + 0.1 * s + 0.3 * (s % 2))) for s in range(4)]
    claim = claim_of(study_of(bad), "C6")
    assert claim.verdict == CONTRADICTED and "0.5 x its task policies" in claim.tests[0].comparisons[0].description


def test_c6_not_resolved_on_runs_without_matched_evaluation(tmp_path):
    """Runs made before the task policies were evaluated on pi_0's episodes: their training
    returns are not comparable with pi_0's evaluation returns, so C6 is not resolved, with why."""
    dirs = [write_run(tmp_path, "maze", "KL+ent_2col", 1e3, 2e-4, s, ramp(10.0 + 0.1 * s), pi0_curves=0.8 * ramp(10.0))
            for s in range(4)]
    claim = claim_of(study_of(dirs), "C6")
    assert claim.verdict == NOT_RESOLVED
    assert "predate the matched evaluation" in claim.tests[0].reason


def test_c1_states_probabilities_of_improvement(tmp_path):
    claim = claim_of(c1_study(tmp_path, distral_final=10.0), "C1")
    assert all(p.numbers.startswith("P(run of KL+ent_2col > run of A3C") for p in comparisons(claim))
    assert "= 1 [1, 1]" in comparisons(claim)[0].numbers  # every Distral run above every baseline run


def test_c7_gridworld(tmp_path):
    rng = np.random.default_rng(0)
    runs = [write_gridworld_run(tmp_path, "distral", s, 1.0 + 0.01 * rng.random((4, 30))) for s in range(3)]
    runs += [write_gridworld_run(tmp_path, "separate", s, 0.5 + 0.01 * rng.random((4, 30))) for s in range(3)]
    study = study_of([write_run(tmp_path, "maze", "A3C", 1e3, 2e-4, s, ramp(1.0 + s)) for s in range(2)])
    assert claim_of(study, "C7", load_gridworld_runs(runs)).verdict == SUPPORTED
    claim = claim_of(study, "C7", load_gridworld_runs(runs[:3]))  # one method only
    assert claim.verdict == NOT_RESOLVED and "runs of distral and separate needed" in claim.tests[0].reason


# ---- the aggregate CLI ----------------------------------------------------------------------


def small_study_dirs(root: Path) -> tuple[list[Path], list[Path]]:
    dirs = []
    for algo, final in (("A3C", 4.0), ("A3C_2col", 3.0), ("KL+ent_2col", 6.0)):
        pi0 = 0.8 * ramp(final) if algo == "KL+ent_2col" else None
        dirs += [write_run(root, "maze", algo, 1e3, 2e-4, s, ramp(final + 0.1 * s), pi0_curves=pi0) for s in range(2)]
    dirs.append(write_run(root, "maze", "A3C_2col", 3e3, 4e-4, 0, ramp(1.0), status="diverged"))
    # an algorithm whose only run diverged before its first evaluation: header-only progress.csv
    only = write_run(root, "maze", "A3C_multitask", 1e3, 2e-4, 0, ramp(1.0), status="diverged")
    (only / "progress.csv").write_text((only / "progress.csv").read_text().splitlines()[0] + "\n")
    dirs.append(only)
    gw = [write_gridworld_run(root, m, s, np.full((4, 20), v + s)) for m, v in (("distral", 2.0), ("separate", 1.0))
          for s in range(2)]
    return dirs, gw


def test_aggregate_cli_writes_every_output(tmp_path, capsys):
    dirs, gw = small_study_dirs(tmp_path)
    out = tmp_path / "results"
    # the greedy --gridworld list is split at the first name that is not seed{N}
    refs = write_references(tmp_path / "reference_scores.csv")
    assert aggregate.main(["--results-dir", str(out), "--references", str(refs), "--gridworld", *map(str, gw),
                           *map(str, dirs)]) == 0
    names = ["all_runs", "settings", "best_settings", "best_settings_returns", "probability_of_improvement",
             "primary_tests"]
    expected = [f"tables/{n}.{ext}" for n in names for ext in ("csv", "md")]
    expected += ["tables/learning_curves.csv", "tables/performance_profiles.csv", "metrics.json", "claims.csv",
                 "claims.md"]
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == sorted(expected)
    all_runs = pd.read_csv(out / "tables" / "all_runs.csv")
    assert len(all_runs) == 8 and (all_runs["status"] == "diverged").sum() == 2
    assert all_runs["failed"].sum() == 2  # the diverged ones; every other run learned
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["maze"]["A3C_multitask"]["fraction_diverged"] == 1.0
    assert metrics["maze"]["A3C_2col"]["fraction_diverged"] == pytest.approx(1 / 3)
    # ramps to 6.0 and 6.1 (seeds 0, 1) average 3.0 and 3.05 on task 0: scores 0.3 and 0.305 on each task
    assert metrics["maze"]["KL+ent_2col"]["auc_score"] == pytest.approx((0.3 + 0.305) / 2)
    assert all_runs.set_index(["algo", "seed", "beta"]).loc[("KL+ent_2col", 1, 1e3), "final_score"] == pytest.approx(
        0.61)
    poi = pd.read_csv(out / "tables" / "probability_of_improvement.csv")
    assert set(poi["metric"]) == {"auc", "final", "early_auc"} and set(poi["baseline"]) == {"A3C", "A3C_2col",
                                                                                        "A3C_multitask"}
    profiles = pd.read_csv(out / "tables" / "performance_profiles.csv")
    assert profiles.groupby("algo")["tau"].count().nunique() == 1  # the same taus for every algorithm
    assert metrics["gridworld"]["distral"]["mean_auc_return"] == pytest.approx(2.5)
    claims = pd.read_csv(out / "claims.csv")
    assert list(claims["claim"]) == [f"C{i}" for i in range(1, 8)]
    assert set(claims["verdict"]) <= {SUPPORTED, CONTRADICTED, NOT_RESOLVED}
    assert claims.set_index("claim").loc["C1", "verdict"] == NOT_RESOLVED  # navigation missing
    assert "Rule:" in (out / "claims.md").read_text()
    tests = pd.read_csv(out / "tables" / "primary_tests.csv")
    assert len(tests) == len(PREREG.tests) + 1 and set(tests["verdict"]) <= {SUPPORTED, CONTRADICTED, NOT_RESOLVED}
    assert tests.set_index("claim").loc["A/A", "reason"] == "no A/A runs in this study"
    assert set(pd.read_csv(out / "tables" / "learning_curves.csv").columns) >= {
        "env", "algo", "step", "mean_score", "ci_low", "ci_high"}


def _break_missing_summary(run_dir: Path) -> None:
    (run_dir / "summary.json").unlink()


def _break_json(run_dir: Path) -> None:
    (run_dir / "summary.json").write_text('{"status": "ok", "algo": ')


def _break_empty_progress(run_dir: Path) -> None:
    (run_dir / "progress.csv").write_text("")


def _break_progress_column(run_dir: Path) -> None:
    pd.read_csv(run_dir / "progress.csv").drop(columns=["episode_return"]).to_csv(run_dir / "progress.csv")


def _break_summary_key(run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    del summary["auc_return"]
    (run_dir / "summary.json").write_text(json.dumps(summary))


@pytest.mark.parametrize("breakage", [_break_missing_summary, _break_json, _break_empty_progress,
                                      _break_progress_column, _break_summary_key])
def test_aggregate_names_a_broken_run_and_writes_nothing(tmp_path, capsys, breakage):
    dirs, _ = small_study_dirs(tmp_path)
    breakage(dirs[3])
    out = tmp_path / "results"
    refs = write_references(tmp_path / "reference_scores.csv")
    assert aggregate.main(["--results-dir", str(out), "--references", str(refs), *map(str, dirs)]) == 1
    assert str(dirs[3]) in capsys.readouterr().err
    assert not out.exists()


def test_aggregate_names_a_broken_gridworld_run(tmp_path, capsys):
    dirs, gw = small_study_dirs(tmp_path)
    pd.read_csv(gw[1] / "progress.csv").drop(columns=["reached_goal"]).to_csv(gw[1] / "progress.csv", index=False)
    out = tmp_path / "results"
    refs = write_references(tmp_path / "reference_scores.csv")
    assert aggregate.main(["--results-dir", str(out), "--references", str(refs), "--gridworld", *map(str, gw), "--",
                           *map(str, dirs)]) == 1
    err = capsys.readouterr().err
    assert str(gw[1]) in err and "reached_goal" in err and not out.exists()


def test_aggregate_without_references_for_a_family_writes_nothing(tmp_path, capsys):
    dirs, _ = small_study_dirs(tmp_path)
    refs = write_references(tmp_path / "reference_scores.csv", envs=("navigation",))
    out = tmp_path / "results"
    assert aggregate.main(["--results-dir", str(out), "--references", str(refs), *map(str, dirs)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "family 'maze'" in err and "python -m distral_repro.reference" in err
    assert not out.exists()


def test_load_rejects_duplicate_runs(tmp_path):
    run = write_run(tmp_path, "maze", "A3C", 1e3, 2e-4, 0, ramp(1.0))
    with pytest.raises(RunFileError, match="same env/algo"):
        load_runs([run, run])


# ---- figures --------------------------------------------------------------------------------


def test_figures_are_written_as_pdf_and_png(tmp_path):
    dirs, gw = small_study_dirs(tmp_path)
    results = tmp_path / "results"
    figs = tmp_path / "paper_figures"
    runs = list(map(str, dirs))
    refs = ["--references", str(write_references(tmp_path / "reference_scores.csv"))]
    assert aggregate.main(["--results-dir", str(results), *refs, *runs]) == 0
    assert figures.main(["fig4", "--env", "maze", "--out", str(figs / "fig4_maze.pdf"), *refs, *runs]) == 0
    assert figures.main(["profile", "--env", "maze", "--out", str(figs / "profile_maze.pdf"), *refs, *runs]) == 0
    assert figures.main(["pi0", "--out", str(figs / "fig4_maze_pi0.pdf"), *refs, *runs]) == 0
    assert figures.main(["overview", "--out", str(figs / "overview.pdf"), "--results-dir", str(results), *refs,
                         "--gridworld", *map(str, gw), "--", *runs]) == 0
    stems = ("fig4_maze", "profile_maze", "fig4_maze_pi0", "overview")
    for stem in stems:
        for ext in ("pdf", "png"):
            assert (figs / f"{stem}.{ext}").stat().st_size > 1000
    assert sorted(p.name for p in figs.iterdir()) == sorted(f"{s}.{e}" for s in stems for e in ("pdf", "png"))


def test_figure_for_an_env_without_runs_fails_clearly(tmp_path, capsys):
    dirs, _ = small_study_dirs(tmp_path)
    out = tmp_path / "fig4_navigation.pdf"
    refs = ["--references", str(write_references(tmp_path / "reference_scores.csv"))]
    assert figures.main(["fig4", "--env", "navigation", "--out", str(out), *refs, *map(str, dirs)]) == 1
    err = capsys.readouterr().err
    assert "navigation" in err and "choose one of: maze" in err and not out.exists()
    with pytest.raises(SystemExit):  # argparse: an output that is not a PDF
        figures.main(["fig4", "--env", "maze", "--out", str(tmp_path / "fig.png"), *map(str, dirs)])


# ---- pilots ---------------------------------------------------------------------------------


def test_pilot_summary_steps_and_core_seconds_to_the_target(tmp_path):
    from distral_repro.analysis import pilots

    assert pilots.first_step_at(np.array([1, 2, 3]), np.array([0.1, 0.3, 0.5]), 0.3) == 2
    assert np.isnan(pilots.first_step_at(np.array([1, 2]), np.array([0.1, 0.2]), 0.3))
    run = write_run(tmp_path, "maze", "A3C", 1e3, 2e-4, 0, ramp(9.0))  # scores 0 .. 0.9 over 100 .. 1000 steps
    (run / "time.txt").write_text("18.0 2.0\n")
    out = tmp_path / "pilot" / "curves.png"
    refs = write_references(tmp_path / "reference_scores.csv")
    assert pilots.main(["--references", str(refs), "--out", str(out), f"a3c={run}"]) == 0
    row = pd.read_csv(out.with_name("summary.csv")).iloc[0]
    assert row["step_to_0.3"] == 400  # 0.3 is first reached at the 4th point (3 / 9 of the ramp)
    assert row["core_seconds"] == 20.0 and row["core_seconds_to_0.3"] == pytest.approx(20.0 * 400 / 1000)
    assert out.stat().st_size > 1000


def _break_cut_last_line(run_dir: Path) -> None:
    text = (run_dir / "progress.csv").read_text()
    (run_dir / "progress.csv").write_text(text[: len(text) - 7])  # the last line cut mid-way


def _break_cut_at_row_boundary(run_dir: Path) -> None:
    lines = (run_dir / "progress.csv").read_text().splitlines(keepends=True)
    (run_dir / "progress.csv").write_text("".join(lines[:-1]))  # one task's last point lost


def _break_cut_whole_point(run_dir: Path) -> None:
    frame = pd.read_csv(run_dir / "progress.csv")
    frame[frame["step"] < frame["step"].max()].to_csv(run_dir / "progress.csv", index=False)


@pytest.mark.parametrize("breakage,problem", [
    (_break_cut_last_line, "progress.csv is truncated: its last line is cut"),
    (_break_cut_at_row_boundary, "fewer evaluation points"),
    (_break_cut_whole_point, "progress.csv ends at step"),
])
def test_a_truncated_or_short_progress_file_is_an_error_naming_the_run(tmp_path, capsys, breakage, problem):
    dirs, _ = small_study_dirs(tmp_path)
    breakage(dirs[2])
    out = tmp_path / "results"
    assert aggregate.main(["--results-dir", str(out), *map(str, dirs)]) == 1
    err = capsys.readouterr().err
    assert str(dirs[2]) in err and problem in err, err
    assert "Traceback" not in err and not out.exists()
