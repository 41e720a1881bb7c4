"""The long-horizon study (config/long_horizon.yaml; docs/workflow.md, "A long-horizon study"):
its settings copied from another study's selection tables, no grid, its own study directory,
its own claims file; and the analysis of a study without a grid.

The workflow tests are dry runs of real Snakemake on a copy of the workflow files (with the
published selection tables the config names); the analysis tests use hand-written runs.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from distral_repro.analysis import aggregate, figures, select
from distral_repro.analysis.preregistration import PreregistrationError, load_preregistration
from tests.test_analysis import STEPS, ramp, write_references, write_run

sys.path.insert(0, str(Path(__file__).parent))
from conftest import REPO, copy_workflow  # noqa: E402
from test_workflow import planned_jobs, snakemake  # noqa: E402

LONG = ("--configfile", "config/long_horizon.yaml")
SELECTION = "docs/results/default_grid/selection"
ALGOS = ["A3C", "A3C_2col", "KL_2col", "KL+ent_2col"]


# ---- the selection of another study -----------------------------------------------------------


def write_table(path: Path, rows: list[tuple[str, str, str]], header="env,algo,setting,beta,lr") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + "".join(f"{e},{a},{s},1000.0,0.004\n" for e, a, s in rows))
    return path


def test_read_selection_takes_the_configured_algorithms_in_their_order(tmp_path):
    table = write_table(tmp_path / "maze.csv", [("maze", "A3C", "beta300_lr4e-3"), ("maze", "KL_2col", "beta3000_lr4e-3"),
                                                ("maze", "A3C_2col", "beta1000_lr2e-3")])
    columns, rows = select.read_selection(table, "maze", ["KL_2col", "A3C"])
    assert columns == ["env", "algo", "setting", "beta", "lr"]
    assert [(r["algo"], r["setting"]) for r in rows] == [("KL_2col", "beta3000_lr4e-3"), ("A3C", "beta300_lr4e-3")]


@pytest.mark.parametrize("rows,header,message", [
    ([("maze", "A3C", "beta300_lr4e-3")], "env,algo,setting,beta,lr", "no row of KL_2col"),
    ([("maze", "A3C", "beta300_lr4e-3"), ("maze", "KL_2col", "b"), ("maze", "KL_2col", "c")],
     "env,algo,setting,beta,lr", "2 rows of KL_2col"),
    ([("maze", "A3C", "beta300_lr4e-3"), ("maze", "KL_2col", "best")], "env,algo,setting,beta,lr", "'best' is not beta"),
    ([("navigation", "A3C", "beta300_lr4e-3")], "env,algo,setting,beta,lr", "rows of navigation"),
    ([("maze", "A3C", "beta300_lr4e-3")], "env,algo,choice,beta,lr", "no column setting"),
])
def test_read_selection_refuses_a_table_it_cannot_use(tmp_path, rows, header, message):
    table = write_table(tmp_path / "maze.csv", rows, header)
    with pytest.raises(select.SelectionError, match=message):
        select.read_selection(table, "maze", ["A3C", "KL_2col"])
    with pytest.raises(select.SelectionError, match="does not exist"):
        select.read_selection(tmp_path / "navigation.csv", "navigation", ["A3C"])


def test_select_cli_copies_the_rows_of_the_algorithms_as_written(tmp_path, capsys):
    published = REPO / SELECTION / "maze.csv"
    out = tmp_path / "selection" / "maze.csv"
    assert select.main(["--env", "maze", "--from", str(published), "--algos", *ALGOS, "--out", str(out)]) == 0
    source = published.read_text().splitlines()
    kept = [source[0]] + [line for algo in ALGOS for line in source[1:] if line.split(",")[1] == algo]
    assert out.read_text().splitlines() == kept  # the cells as published, byte for byte
    assert select.main(["--env", "maze", "--from", str(published), "--algos", "A3C", "KL_3col", "--out",
                        str(tmp_path / "bad.csv")]) == 1
    err = capsys.readouterr().err
    assert "no row of KL_3col" in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "bad.csv").exists()


# ---- the workflow: dry runs ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory) -> Path:
    """The workflow files and the published selection tables that config/long_horizon.yaml names."""
    workdir = copy_workflow(tmp_path_factory.mktemp("workflow"))
    shutil.copytree(REPO / SELECTION, workdir / SELECTION)
    return workdir


def test_the_long_study_plans_4_algorithms_x_2_envs_x_8_seeds_in_its_own_directory(workflow_copy):
    default = planned_jobs(workflow_copy)
    jobs = planned_jobs(workflow_copy, *LONG)
    assert jobs["train_confirmation"] == 4 * 2 * 8 == 64
    assert "train" not in jobs and "gridworld" not in jobs and "figure_profile" not in jobs
    assert jobs["select_settings"] == 2 and jobs["aggregate"] == 1 and jobs["figure_fig4"] == 2
    study = workflow_copy / "studies" / "long_horizon"
    assert (study / ".snakemake").is_dir()  # Snakemake's metadata there, nothing in the repository's root
    assert not (workflow_copy / "results").exists() and not (workflow_copy / "logs").exists()
    assert planned_jobs(workflow_copy) == default  # the default study's plan is unchanged
    assert default["train"] == 378 and default["select_settings"] == 3


def test_the_long_study_trains_the_published_settings_at_its_budgets(workflow_copy):
    out = snakemake(workflow_copy, "-n", "-p", *LONG).stdout
    published = pd.read_csv(workflow_copy / SELECTION / "navigation.csv").set_index("algo")["setting"]
    for algo in ALGOS:
        run = f"results/confirmation/navigation/{algo}/{published[algo]}_seed31"
        assert f"--out {run} " in out.replace("'", "")
    assert out.count("--steps-per-task 768000") == 4 * 8 and out.count("--steps-per-task 1280000") == 4 * 8
    for seed in range(24, 32):
        assert f"--seed {seed} " in out
    assert "--seed 23 " not in out and "--seed 32 " not in out
    assert "--claims ../../config/claims_long_horizon.yaml" in out


@pytest.mark.parametrize("override,message", [
    ("confirmation={selection_from: docs/results/nowhere}",
     "config key 'confirmation.selection_from': docs/results/nowhere/maze.csv does not exist"),
    ("confirmation={selection_from: docs/results/partial}", "docs/results/partial/maze.csv has no row of KL_2col"),
    ("claims=config/claims.yaml", "C4 more failed runs, C4 wider spread over settings test the grid"),
    ("environments=[maze,minigrid4]", "no budget for minigrid4"),
])
def test_a_bad_long_study_is_refused_in_one_line_before_any_job(tmp_path, override, message):
    workdir = copy_workflow(tmp_path / "wf")
    shutil.copytree(REPO / SELECTION, workdir / SELECTION)
    shutil.copytree(REPO / SELECTION, workdir / "docs/results/partial")
    published = (workdir / SELECTION / "maze.csv").read_text().splitlines(keepends=True)
    (workdir / "docs/results/partial/maze.csv").write_text("".join(line for line in published if ",KL_2col," not in line))
    proc = snakemake(workdir, "-n", *LONG, "--config", override, check=False)  # refused at parse time, dry run or not
    assert proc.returncode != 0
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("distral-repro:")]
    assert len(errors) == 1 and message in errors[0], (proc.stdout + proc.stderr)[-2000:]
    assert not (workdir / "studies").exists() and not (workdir / "results").exists()


# ---- the analysis of a study without a grid ------------------------------------------------------


def long_runs(root: Path) -> list[Path]:
    """KL+ent_2col above A3C and KL_2col on both envs; every curve flat over its last quarter."""
    finals = {"A3C": 4.0, "A3C_2col": 4.5, "KL_2col": 5.0, "KL+ent_2col": 8.0}
    flat = int(len(STEPS) * 0.6)  # each curve rises to its final value, then stays there
    dirs = []
    for env in ("maze", "navigation"):
        for algo, final in finals.items():
            for seed in range(24, 28):
                curves = ramp(final + 0.1 * (seed - 24))
                curves[:, flat:] = curves[:, -1:]
                dirs.append(write_run(root, env, algo, 1e3, 4e-3, seed, curves))
    return dirs


def test_aggregate_without_a_grid_writes_the_confirmation_tables_and_the_final_claims(tmp_path):
    runs = long_runs(tmp_path / "confirmation")
    refs = write_references(tmp_path / "refs.csv")
    out = tmp_path / "results"
    args = ["--references", str(refs), *[a for d in runs for a in ("--confirmation", str(d))]]
    claims = REPO / "config" / "claims_long_horizon.yaml"
    # as the workflow calls it without a grid and grid world: no GW_RUN_DIR and no RUN_DIR after --gridworld --
    assert aggregate.main(["--results-dir", str(out), "--claims", str(claims), *args, "--gridworld", "--"]) == 0
    written = sorted(p.name for p in (out / "tables").glob("*.csv"))
    assert written == ["confirmation.csv", "confirmation_probability_of_improvement.csv", "confirmation_runs.csv",
                       "learning_curves.csv", "primary_tests.csv"]  # no grid table, no performance profile
    verdicts = pd.read_csv(out / "claims.csv").set_index("claim")["verdict"]
    assert list(verdicts.index) == ["C1", "C3"]
    assert (verdicts == "supported").all()
    tests = pd.read_csv(out / "tables" / "primary_tests.csv")
    assert list(tests["stage"]) == ["confirmation", "confirmation"]
    steps = f"{int(STEPS[-1]):,}"
    assert all(h == f"maze final (curves flat by {steps} steps per task); navigation final (curves flat by {steps} "
               "steps per task)" for h in tests["horizon"])
    text = (out / "claims.md").read_text()
    assert "This study tests part of the claims only: C1 final score; C3 higher final with entropy." in text
    assert "claims_long_horizon.yaml" in text
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"confirmation", "claims", "seeds_needed_p070"}
    assert set(metrics["confirmation"]["navigation"]) == set(ALGOS)

    for name, extra in (("fig4_maze", ["fig4", "--env", "maze"]), ("overview", ["overview", "--results-dir", str(out)])):
        pdf = tmp_path / f"{name}.pdf"
        tail = [*args, "--gridworld", "--"] if name == "overview" else args
        assert figures.main([*extra, "--out", str(pdf), *tail]) == 0
        assert pdf.with_suffix(".png").stat().st_size > 1000


def test_a_grid_stage_test_in_a_study_without_a_grid_stops_the_aggregation(tmp_path, capsys):
    runs = long_runs(tmp_path / "confirmation")
    refs = write_references(tmp_path / "refs.csv")
    args = ["--references", str(refs), *[a for d in runs for a in ("--confirmation", str(d))]]
    assert aggregate.main(["--results-dir", str(tmp_path / "r"), *args]) == 1  # config/claims.yaml: C4 tests the grid
    err = capsys.readouterr().err
    assert "stage 'grid' is not in the study" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit):  # performance profiles need the grid's runs
        figures.main(["profile", "--env", "maze", "--out", str(tmp_path / "p.pdf"), "--references", str(refs)])


def test_a_claims_file_may_hold_some_claims_only(tmp_path):
    prereg = load_preregistration(REPO / "config" / "claims_long_horizon.yaml")
    assert [t.label for t in prereg.tests] == ["C1 final score", "C3 higher final with entropy"]
    assert {t.score for t in prereg.tests} == {"final"} and prereg.aa_check is None
    assert prereg.algorithms() == {"A3C", "A3C_2col", "KL_2col", "KL+ent_2col"}
    empty = tmp_path / "empty.yaml"
    empty.write_text("distral: KL+ent_2col\nalpha: 0.05\nclaims: {}\n")
    with pytest.raises(PreregistrationError, match="must hold one or more of C1"):
        load_preregistration(empty)
