"""The two-stage study: the grid's selection of best settings, and the confirmation runs
behind the curves and the final-return claims (docs/workflow.md, "Two stages").

Run directories are written by hand (tests/test_analysis.py's `write_run`), so that which
stage decides which claim can be read off numbers worked out by hand.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from distral_repro.analysis import aggregate, figures, select
from distral_repro.analysis.claims import Stages
from distral_repro.analysis.runs import load_runs
from distral_repro.analysis.stats import CONTRADICTED, SUPPORTED
from distral_repro.analysis.tables import Study
from tests.test_analysis import REFS, claim_of, comparisons, ramp, write_references, write_run


def grid_dirs(root, env="maze"):
    """Two settings per algorithm; the better AUC is at lr 4e-3 for A3C, 2e-3 for KL+ent_2col."""
    dirs = []
    for algo, good_lr in (("A3C", 4e-3), ("KL+ent_2col", 2e-3), ("KL+ent_1col", 2e-3)):
        for lr in (2e-3, 4e-3):
            final = 3.0 if lr == good_lr else 1.0
            dirs += [write_run(root, env, algo, 1e3, lr, s, ramp(final + 0.1 * s)) for s in range(2)]
    return dirs


def test_selection_names_each_algorithms_best_grid_setting(tmp_path):
    study = Study(load_runs(grid_dirs(tmp_path)), REFS)
    table = select.selection_table(study, "maze")
    assert list(table.columns) == select.COLUMNS
    chosen = table.set_index("algo")
    assert chosen.loc["A3C", "setting"] == "beta1000_lr0.004" and chosen.loc["A3C", "lr"] == 4e-3
    assert chosen.loc["KL+ent_2col", "setting"] == "beta1000_lr0.002"
    assert (chosen["runs"] == 2).all() and (chosen["diverged"] == 0).all()
    # ramps to 3.0 and 3.1 (seeds 0, 1): AUC scores 0.15 and 0.155 on both tasks
    assert chosen.loc["A3C", "auc_score"] == pytest.approx((0.15 + 0.155) / 2)


def test_select_cli_writes_the_table_and_refuses_other_envs(tmp_path, capsys):
    dirs = grid_dirs(tmp_path / "a")
    refs = write_references(tmp_path / "refs.csv")
    out = tmp_path / "selection" / "maze.csv"
    assert select.main(["--env", "maze", "--references", str(refs), "--out", str(out), *map(str, dirs)]) == 0
    assert len(pd.read_csv(out)) == 3
    other = write_run(tmp_path / "b", "navigation", "A3C", 1e3, 2e-3, 0, ramp(1.0))
    bad = tmp_path / "selection" / "bad.csv"
    assert select.main(["--env", "maze", "--references", str(refs), "--out", str(bad), *map(str, dirs), str(other)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "navigation" in err and len(err.strip().splitlines()) == 1
    assert not bad.exists()


def test_setting_stem_of_a_run_directory():
    assert select.setting_stem("results/runs/maze/A3C/beta3e3_lr2e-3_seed12") == "beta3e3_lr2e-3"
    with pytest.raises(select.SelectionError, match="beta"):
        select.setting_stem("results/runs/maze/A3C/somewhere")


def stages_where_the_confirmation_reverses_the_grid(root) -> Stages:
    """Grid: Distral (KL+ent_2col) below every baseline. Confirmation: far above them."""
    grid, confirmation = [], []
    for algo, grid_final, late_final in (("A3C", 5.0, 2.0), ("A3C_multitask", 5.0, 2.0), ("A3C_2col", 5.0, 2.0),
                                         ("KL+ent_1col", 2.0, 4.0), ("KL+ent_2col", 2.0, 8.0)):
        for env in ("maze", "navigation"):
            grid += [write_run(root / "grid", env, algo, 1e3, 2e-3, s, ramp(grid_final + 0.1 * s)) for s in range(4)]
            confirmation += [write_run(root / "confirmation", env, algo, 1e3, 2e-3, s, ramp(late_final + 0.1 * s))
                             for s in range(4, 8)]
    grid_study = Study(load_runs(grid), REFS)
    return Stages(grid_study, Study(load_runs(confirmation), REFS, stage="confirmation", scale_of=grid_study))


def test_final_claims_are_judged_on_the_confirmation_runs_robustness_on_the_grid(tmp_path):
    stages = stages_where_the_confirmation_reverses_the_grid(tmp_path)
    assert claim_of(stages.grid, "C1").verdict == CONTRADICTED
    c1 = claim_of(stages, "C1")
    assert c1.verdict == SUPPORTED
    assert all("(confirmation)" in part.description for part in comparisons(c1))
    assert {t.stage_used for t in c1.tests} == {"confirmation"}
    # C4 pools every run of an algorithm: always the grid's
    assert {t.stage_used for t in claim_of(stages, "C4").tests} == {"grid"}
    # C2 is a late-stage claim (config/claims.yaml): its KL+ent pair is judged on the confirmation runs
    compared = [part for part in comparisons(claim_of(stages, "C2")) if part.missing is None]
    assert compared and all("(confirmation)" in part.description for part in compared)


def test_confirmation_runs_are_scored_on_the_grids_scale(tmp_path):
    stages = stages_where_the_confirmation_reverses_the_grid(tmp_path)
    for env in ("maze", "navigation"):
        assert stages.confirmation.refs[env] is stages.grid.refs[env]
        assert stages.late(env) is stages.confirmation
    assert Stages(stages.grid).late("maze") is stages.grid
    with pytest.raises(ValueError, match="stage"):
        Study(stages.grid.runs, REFS, stage="final")


def test_aggregate_and_figures_with_confirmation_runs(tmp_path):
    grid = grid_dirs(tmp_path / "grid")
    confirmation = [write_run(tmp_path / "confirmation", "maze", algo, 1e3, lr, s, ramp(6.0 + 0.1 * s))
                    for algo, lr in (("A3C", 4e-3), ("KL+ent_2col", 2e-3), ("KL+ent_1col", 2e-3)) for s in (4, 5)]
    refs = write_references(tmp_path / "refs.csv")
    out = tmp_path / "results"
    args = ["--references", str(refs), *[a for d in confirmation for a in ("--confirmation", str(d))]]
    assert aggregate.main(["--results-dir", str(out), *args, *map(str, grid)]) == 0
    for name in aggregate_confirmation_tables():
        assert (out / "tables" / f"{name}.csv").exists() and (out / "tables" / f"{name}.md").exists()
    assert len(pd.read_csv(out / "tables" / "confirmation_runs.csv")) == 6
    assert len(pd.read_csv(out / "tables" / "all_runs.csv")) == 12  # the grid's runs only
    metrics = json.loads((out / "metrics.json").read_text())
    # seeds 4 and 5 ramp to 6.4 and 6.5: final scores 0.64 and 0.65 on each task
    assert metrics["confirmation"]["maze"]["A3C"]["final_score"] == pytest.approx(0.645)
    assert metrics["confirmation"]["maze"]["A3C"]["lr"] == 4e-3
    curves = pd.read_csv(out / "tables" / "learning_curves.csv")
    assert set(curves["stage"]) == {"confirmation"}
    assert curves.groupby("algo")["mean_score"].last()["A3C"] == pytest.approx(0.645)
    pdf = tmp_path / "fig4_maze.pdf"
    assert figures.main(["fig4", "--env", "maze", "--out", str(pdf), *args, *map(str, grid)]) == 0
    assert pdf.stat().st_size > 1000 and pdf.with_suffix(".png").exists()


def aggregate_confirmation_tables() -> list[str]:
    return ["confirmation_runs", "confirmation", "confirmation_probability_of_improvement"]


def test_confirmation_runs_of_an_env_without_grid_runs_are_refused(tmp_path, capsys):
    grid = grid_dirs(tmp_path / "grid")
    stray = write_run(tmp_path / "confirmation", "lasertag", "A3C", 1e3, 2e-3, 4, ramp(1.0))
    refs = write_references(tmp_path / "refs.csv")
    out = tmp_path / "results"
    assert aggregate.main(["--results-dir", str(out), "--references", str(refs), "--confirmation", str(stray),
                           *map(str, grid)]) == 1
    assert "lasertag" in capsys.readouterr().err and not out.exists()
    assert np.isfinite(Study(load_runs(grid), REFS).best_final["maze"])
