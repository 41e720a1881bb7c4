"""The study's design: best-known references, the selection rule's replay, horizons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from distral_repro.analysis import best_known
from distral_repro.analysis.scores import References
from distral_repro.reference import BEST_KNOWN, apply_best_known


def _refs(uppers, sources, env="maze"):
    return pd.DataFrame({"env": env, "preset": "default", "task": range(len(uppers)), "random_return": 0.0,
                         "upper_return": uppers, "upper_source": sources, "upper_ci": 0.1, "upper_episodes": 64})


def test_best_known_keeps_only_tasks_beaten_by_more_than_the_margin():
    # scripted 10 on both tasks, random 0: the limit is 11; the best single runs are 11.0 and 13.0
    # (on task 0 no run exceeds 11; on task 1 B's seed 1 does, though B's mean, 12, would too).
    finals = pd.DataFrame({
        "env": "maze", "preset": "default", "task": [0, 0, 1, 1, 1, 1], "study": "s", "beta": 1.0, "lr": 1e-3,
        "algo": ["A", "A", "A", "A", "B", "B"], "seed": [0, 1, 0, 1, 0, 1], "final": [10.0, 11.0, 8.0, 8.0, 11.0, 13.0],
    })
    best = best_known.best_single_runs(finals)
    assert list(best["best_known_return"]) == [11.0, 13.0] and list(best["algo"]) == ["A", "B"]
    assert list(best["seed"]) == [1, 1] and list(best["runs"]) == [2, 4]
    out = best_known.exceeding(best, _refs([10.0, 10.0], "scripted"))
    assert list(out["task"]) == [1] and out["best_known_return"].iloc[0] == 13.0 and out["seed"].iloc[0] == 1


def test_apply_best_known_raises_only_scripted_references_that_are_lower():
    table = _refs([10.0, 10.0, 10.0], ["scripted", "scripted", "scripted"])
    known = pd.DataFrame({"env": "maze", "preset": "default", "task": [1, 2], "best_known_return": [12.0, 9.0]})
    out = apply_best_known(table, known)
    assert list(out["upper_return"]) == [10.0, 12.0, 10.0]
    assert list(out["upper_source"]) == ["scripted", "best_known", "scripted"]
    refs = References(out).check("maze", (0, 1, 2), "default")
    assert refs.source == "scripted; best_known on tasks 1"
    np.testing.assert_allclose(refs.normalise(np.array([12.0, 12.0, 5.0])), [1.2, 1.0, 0.5])


def test_the_documented_best_known_returns_name_their_provenance():
    table = pd.read_csv(BEST_KNOWN)
    assert set(best_known.COLUMNS) <= set(table.columns)
    assert (table["best_known_return"] > table["scripted_return"]).all() and (table["runs"] >= 2).all()


# ----------------------------------------------------------------------------- horizons

from distral_repro.analysis import horizons  # noqa: E402
from distral_repro.analysis.select import late_score, pick_setting  # noqa: E402


def test_last_quarter_gain_is_the_fitted_slope_times_the_span():
    steps = np.array([10, 20, 30, 40, 50, 60, 70, 80])  # last quarter: steps >= 60 -> 60, 70, 80
    rising = np.array([0, 0, 0, 0, 0, 0.2, 0.3, 0.4])  # slope 0.01 per step over a span of 20 -> 0.2
    flat = np.array([0, 0, 0, 0, 0, 0.5, 0.4, 0.5])  # slope 0 -> 0
    np.testing.assert_allclose(horizons.last_quarter_gain(steps, np.stack([rising, flat])), [0.2, 0.0], atol=1e-12)
    with pytest.raises(ValueError, match="fewer than 2"):
        horizons.last_quarter_gain(np.array([1, 2, 3, 100]), np.zeros((1, 4)))


def test_flattened_by_one_sided_interval_against_the_tolerance():
    # gains 0.1, 0.2, 0.3: mean 0.2, se 0.1/sqrt(3) = 0.0577, t(0.95, 2) = 2.920 -> lower 0.0314 <= 0.05: flat
    assert horizons.flattened(np.array([0.1, 0.2, 0.3]))
    # gains 0.18, 0.2, 0.22: se 0.01155 -> lower 0.2 - 0.0337 = 0.166 > 0.05: still rising
    assert not horizons.flattened(np.array([0.18, 0.2, 0.22]))
    assert horizons.flattened(np.array([0.04])) and not horizons.flattened(np.array([0.06]))
    assert horizons.horizon_phrase(128000, False) == "at 128,000 steps per task"


def test_late_score_averages_the_last_quarter_and_skips_empty_points():
    progress = pd.DataFrame({"step": [10, 20, 30, 40, 10, 20, 30, 40], "task": [0] * 4 + [1] * 4,
                             "episode_return": [0, 1, 2, 4, 0, 1, 3, 6]})
    # references random 0, upper 4 and 8: last quarter (step > 30) -> scores 4/4 and 6/8 -> 0.875
    assert late_score(progress, np.array([0.0, 0.0]), np.array([4.0, 8.0])) == pytest.approx(0.875)
    with_empty = pd.concat([progress, pd.DataFrame({"step": [50, 50], "task": [0, 1], "episode_return": np.nan})])
    assert late_score(with_empty, np.array([0.0, 0.0]), np.array([4.0, 8.0])) == pytest.approx(0.875)


def test_the_rule_prefers_fewer_divergences_then_the_higher_late_score():
    table = pd.DataFrame({"beta": [1.0, 1.0, 2.0], "lr": [1e-3, 2e-3, 1e-3], "diverged": [1, 0, 0],
                          "late_score": [0.9, 0.5, 0.6]})
    assert pick_setting(table) == 2


# ------------------------------------------------ one best setting; horizons in tables and claims

from distral_repro.analysis import figures, select  # noqa: E402
from distral_repro.analysis.claims import claims_markdown, claims_table, evaluate_claims  # noqa: E402
from tests.test_analysis import PREREG, STEPS, claim_of, ramp, study_of, write_run  # noqa: E402


def test_selection_tables_figures_and_claims_name_the_same_best_setting(tmp_path):
    # per algorithm: an early setting (constant 2 / 4: the higher AUC) and a late one (0 then 10 over the
    # last quarter: the higher late score); the rule of select.py picks the late one, and so must the rest
    early = np.array([[2.0] * 10, [4.0] * 10])
    late = np.array([[0.0] * 7 + [10.0] * 3, [0.0] * 7 + [10.0] * 3])
    dirs = []
    for algo in ("A3C", "KL+ent_2col"):
        dirs += [write_run(tmp_path, "maze", algo, 1e3, 2e-4, s, early + 0.1 * s) for s in range(3)]
        dirs += [write_run(tmp_path, "maze", algo, 3e3, 4e-3, s, late + 0.1 * s) for s in range(3)]
    study = study_of(dirs)
    chosen = select.selection_table(study, "maze").set_index("algo")
    assert list(chosen["setting"]) == ["beta3000_lr0.004"] * 2  # the directory stem, as written
    assert chosen.loc["A3C", "auc_score"] < study.settings_table().query("beta == 1e3")["auc_score"].min()
    best = study.best_settings_table().set_index("algo")
    curves = study.learning_curves_table()
    for algo in ("A3C", "KL+ent_2col"):
        assert (best.loc[algo, "beta"], best.loc[algo, "lr"]) == (chosen.loc[algo, "beta"], chosen.loc[algo, "lr"])
        assert best.loc[algo, "late_score"] == pytest.approx(chosen.loc[algo, "late_score"])
        assert set(curves.loc[curves["algo"] == algo, "lr"]) == {4e-3}
        assert {r.setting for r in study.results[("maze", algo)].best_runs} == {(3e3, 4e-3)}
    fig, ax = figures.plt.subplots()
    figures.plot_learning_curves(ax, study, "maze")
    assert all("lr=0.004" in label for label in ax.get_legend_handles_labels()[1])
    figures.plt.close(fig)


def plateau(final: float, tasks: int = 2) -> np.ndarray:
    """(tasks, 10) curves that rise to `final` by the 5th point and stay there (task t adds 0.1 t)."""
    rise = np.minimum(np.linspace(0.0, 2 * final, len(STEPS)), final)
    return np.array([rise + 0.1 * t for t in range(tasks)])


def test_final_score_results_state_their_steps_and_whether_curves_flattened(tmp_path):
    dirs = []
    for env in ("maze", "navigation"):
        for algo in ("A3C", "A3C_multitask", "A3C_2col", "KL+ent_2col"):
            still_rising = env == "navigation" and algo == "A3C"
            dirs += [write_run(tmp_path, env, algo, 1e3, 2e-4, s,
                               ramp(5.0 + 0.1 * (s - 2)) if still_rising else plateau(5.0 + 0.1 * (s - 2)))
                     for s in range(4)]
    study = study_of(dirs)
    # the rising ramp gains final x 200 / 900 steps over the last quarter (steps 800-1000), / 10 normalised:
    # finals 4.8 .. 5.1 -> gains 0.107 .. 0.113, mean 0.111: its lower bound is far above the tolerance 0.05
    table = study.best_settings_table().set_index(["env", "algo"])
    assert table.loc[("navigation", "A3C"), "last_quarter_gain"] == pytest.approx(5.0 * 200 / 900 / 10 - 0.1 * 0.5 * 200 / 9000)
    assert not table.loc[("navigation", "A3C"), "flattened"]
    assert table.loc[("navigation", "A3C"), "horizon"] == "at 1,000 steps per task"
    assert table.loc[("maze", "A3C"), "flattened"] and table.loc[("maze", "A3C"), "last_quarter_gain"] == pytest.approx(0)
    assert table.loc[("maze", "A3C"), "horizon"] == "final (curves flat by 1,000 steps per task)"
    assert (table["steps_per_task"] == 1000).all()

    final = claim_of(study, "C1").tests[1]
    assert final.test.score == "final"
    assert final.horizon == ("maze final (curves flat by 1,000 steps per task); navigation at 1,000 steps per task "
                             "(not flattened: A3C +0.11 over the last quarter)")
    described = [c.description for c in final.comparisons]
    assert "navigation final (grid) at 1,000 steps per task: KL+ent_2col > A3C" in described
    assert "navigation final (grid, curves flat by 1,000 steps per task): KL+ent_2col > A3C_2col" in described
    assert claim_of(study, "C1").tests[0].horizon == ""  # AUC is not a final score
    claims, aa = evaluate_claims(study, [], PREREG, calibrated=False)
    text = claims_markdown(claims, aa, PREREG)
    assert "### final score: maze final (curves flat by 1,000 steps per task); navigation at 1,000 steps" in text
    assert "worded \"at N steps per task\"" in text
    row = claims_table(claims).set_index("claim").loc["C1"]
    assert row["horizon"].startswith("final score: maze final (curves flat") and "C1" in row.name
