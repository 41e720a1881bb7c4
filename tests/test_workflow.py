"""The Snakemake workflow, run by real Snakemake on copies of the repository's workflow files."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from conftest import copy_study, copy_workflow, run_snakemake  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FIGURES = ("fig3_gridworld", "fig4_maze", "fig4_navigation", "fig4_lasertag", "fig4_maze_pi0", "overview",
           "profile_maze", "profile_navigation", "profile_lasertag")
snakemake = run_snakemake


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Jobs per rule of a dry run (the job-count table Snakemake prints)."""
    out = snakemake(workdir, "-n", "--quiet", "rules", *args)
    counts = {}
    for line in (out.stdout + out.stderr).splitlines():
        match = re.fullmatch(r"\s*([A-Za-z_]\w*)\s+(\d+)\s*", line)
        if match and match.group(1) != "total":
            counts[match.group(1)] = int(match.group(2))
    return counts


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("workflow"))


def test_default_grid_schedules_378_training_jobs(workflow_copy):
    jobs = planned_jobs(workflow_copy)
    assert jobs["train"] == 7 * 3 * 3 * 3 * 2 == 378  # 2 grid seeds; the paper's 4 with seeds=[0,1,2,3]
    assert jobs["gridworld"] == 2 * 64
    assert jobs["aggregate"] == 1
    assert jobs["figure_fig4"] == jobs["figure_profile"] == 3
    assert jobs["reference_scores"] == 1
    assert jobs["figure_pi0"] == jobs["figure_gridworld"] == jobs["figure_overview"] == 1
    # stage 2: one selection per env now; its confirmation runs join the DAG once it has run
    assert jobs["select_settings"] == 3 and "train_confirmation" not in jobs


def test_the_paper_preset_has_one_stage(workflow_copy):
    jobs = planned_jobs(workflow_copy, "--config", "preset=paper")
    assert jobs["train"] == 756 and "select_settings" not in jobs and "train_confirmation" not in jobs


def test_presets_are_selected_by_config_or_configfile_and_explicit_values_win(workflow_copy):
    smoke = planned_jobs(workflow_copy, "--config", "preset=smoke")
    assert smoke["train"] == 7 * 3 * 2 and smoke["gridworld"] == 2 * 2
    assert planned_jobs(workflow_copy, "--configfile", "config/presets/smoke.yaml") == smoke
    one_seed = planned_jobs(workflow_copy, "--config", "preset=smoke", "seeds=[0]")
    assert one_seed["train"] == 7 * 3
    paper = planned_jobs(workflow_copy, "--config", "preset=paper")
    assert paper["train"] == 756


def test_paper_preset_passes_its_budget_and_beta_grid(workflow_copy):
    out = snakemake(workflow_copy, "-n", "-p", "--config", "preset=paper", "--", "results/runs/maze/KL+ent_2col/beta1e3_lr2e-4_seed0/summary.json")
    assert "--preset paper" in out.stdout and "--beta 1e3 --lr 2e-4" in out.stdout


@pytest.mark.parametrize(
    "overrides,key",
    [
        ({"algorithms": ["A3C", "KL"]}, "algorithms"),
        ({"environments": ["doom"]}, "environments"),
        ({"environments": []}, "environments"),
        ({"seeds": []}, "seeds"),
        ({"betas": ["-3e3"]}, "betas"),
        ({"betas": ["0"]}, "betas"),
        ({"lrs": ["fast"]}, "lrs"),
        ({"betas": ["1e3", "1000"]}, "'betas': '1e3' and '1000' are the same number"),
        ({"lrs": ["4e-3", "0.004"]}, "'lrs': '4e-3' and '0.004' are the same number"),
        ({"seeds": [0, 4294967296]}, "seeds"),
        ({"gridworld": {"methods": ["distral", "hard_q"], "seeds": [0]}}, "methods"),
        ({"preset": "huge"}, "preset"),
        ({"confirmation": {"seeds": [1, 4], "steps_per_task": {"maze": 1000}}}, "confirmation.seeds': [1] are seeds of the grid"),
        ({"confirmation": {"seeds": [4], "steps_per_task": {"maze": 0}}}, "confirmation"),
    ],
)
def test_bad_config_stops_before_any_job_naming_the_key(tmp_path, overrides, key):
    workdir = copy_workflow(tmp_path / "wf")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(overrides))
    proc = snakemake(workdir, "--cores", "1", "--configfile", str(bad), check=False)
    assert proc.returncode != 0
    message = proc.stdout + proc.stderr
    assert key in message, message[-2000:]
    assert not (workdir / "results").exists() and not (workdir / "logs").exists()


def test_lint_passes(workflow_copy):
    out = snakemake(workflow_copy, "--lint")
    assert "Congratulations" in out.stdout + out.stderr


def test_the_workflow_profile_is_loaded_and_never_slower_than_snakemakes_default_rate(tmp_path):
    """profiles/default counts the job rate over >= 10 s (fewer scheduler wake-ups, docs/speed.md,
    "Snakemake's own process") at no lower a rate than Snakemake's default 100 jobs/s; Snakemake reads it from a
    copy of the workflow (a broken value there stops a dry run, naming the option)."""
    from snakemake.settings.types import MaxJobsPerTimespan

    profile = yaml.safe_load((REPO / "profiles" / "default" / "config.yaml").read_text())
    limit = MaxJobsPerTimespan.parse_choice(profile["max-jobs-per-timespan"])
    assert limit.timespan >= 10 and limit.max_jobs / limit.timespan >= 100
    workdir = copy_workflow(tmp_path / "wf")
    (workdir / "profiles" / "default" / "config.yaml").write_text("max-jobs-per-timespan: every-second\n")
    proc = snakemake(workdir, "--cores", "1", "-n", check=False)
    assert proc.returncode != 0 and "every-second" in proc.stdout + proc.stderr

# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def smoke_run(smoke_study, tmp_path_factory) -> Path:
    """A copy of the session's smoke study (tests/conftest.py), which these tests change."""
    workdir = copy_workflow(tmp_path_factory.mktemp("smoke"))
    copy_study(smoke_study, workdir)
    dry = snakemake(workdir, "-n", "--config", "preset=smoke")
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-3000:]
    return workdir


@pytest.mark.slow
def test_smoke_preset_produces_every_table_and_figure(smoke_run):
    for name in FIGURES:
        for ext in ("pdf", "png"):
            path = smoke_run / "paper_figures" / f"{name}.{ext}"
            assert path.stat().st_size > 1000, path
    for name in ("all_runs", "settings", "best_settings", "best_settings_returns", "probability_of_improvement"):
        table = pd.read_csv(smoke_run / "results" / "tables" / f"{name}.csv")
        assert len(table) > 0
        assert (smoke_run / "results" / "tables" / f"{name}.md").read_text().startswith("|")
    all_runs = pd.read_csv(smoke_run / "results" / "tables" / "all_runs.csv")
    assert len(all_runs) == 7 * 3 * 2  # every run, none silently dropped
    claims = pd.read_csv(smoke_run / "results" / "claims.csv")
    assert set(claims["claim"]) == {f"C{i}" for i in range(1, 8)}
    assert set(claims["verdict"]) <= {"supported", "contradicted", "not resolved"}
    # the verdict vocabulary end to end: each primary test with its effect, Holm p, calibration, power
    tests = pd.read_csv(smoke_run / "results" / "tables" / "primary_tests.csv")
    assert set(tests["verdict"]) <= {"supported", "contradicted", "not resolved"}
    assert set(tests["claim"]) == {f"C{i}" for i in range(1, 8)} | {"A/A"}
    assert tests["reason"].notna().all() and (tests["p_holm"].isna() | (tests["p_holm"] <= 1)).all()
    # the A/A check: A3C_2col's best maze setting, confirmation seeds against seeds of its own
    aa = tests.set_index("claim").loc["A/A"]
    assert aa["verdict"] == "not resolved" and "A3C_2col seeds 2,3 > A3C_2col seeds 4,5" in aa["binding_comparison"]
    assert "## A/A check" in (smoke_run / "results" / "claims.md").read_text()
    metrics = json.loads((smoke_run / "results" / "metrics.json").read_text())
    assert set(metrics["claims"]) == {f"C{i}" for i in range(1, 8)}
    summary = json.loads((smoke_run / "results/runs/maze/KL+ent_2col/beta1000_lr4e-3_seed1/summary.json").read_text())
    assert summary["preset"] == "smoke" and summary["status"] == "ok"
    assert (smoke_run / "results/runs/maze/KL+ent_2col/beta1000_lr4e-3_seed1/pi0_eval.csv").exists()
    assert not list((smoke_run / "results" / "runs").rglob("checkpoint.pt"))
    assert (smoke_run / "logs" / "train" / "maze" / "A3C" / "beta1000_lr4e-3_seed0.log").exists()


@pytest.mark.slow
def test_smoke_confirmation_stage_reruns_each_best_setting_on_fresh_seeds(smoke_run):
    smoke = yaml.safe_load((REPO / "config" / "presets" / "smoke.yaml").read_text())["confirmation"]
    confirmation = pd.read_csv(smoke_run / "results" / "tables" / "confirmation_runs.csv")
    assert len(confirmation) == 7 * 3 * len(smoke["seeds"]) and set(confirmation["seed"]) == set(smoke["seeds"])
    for env, steps in smoke["steps_per_task"].items():
        selection = pd.read_csv(smoke_run / "results" / "selection" / f"{env}.csv")
        assert sorted(selection["algo"]) == sorted(confirmation[confirmation["env"] == env]["algo"].unique())
        for row in selection.itertuples():
            for seed in smoke["seeds"]:
                run = smoke_run / "results" / "confirmation" / env / row.algo / f"{row.setting}_seed{seed}"
                summary = json.loads((run / "summary.json").read_text())
                assert (summary["steps_per_task"], summary["seed"], summary["lr"]) == (steps, seed, row.lr)
    curves = pd.read_csv(smoke_run / "results" / "tables" / "learning_curves.csv")
    assert set(curves["stage"]) == {"confirmation"}
    metrics = json.loads((smoke_run / "results" / "metrics.json").read_text())
    assert set(metrics["confirmation"]) == {"maze", "navigation", "lasertag"}
    assert "(confirmation)" in (smoke_run / "results" / "claims.md").read_text()


@pytest.mark.slow
def test_smoke_scores_are_normalised_by_the_workflows_own_reference_scores(smoke_run):
    refs = pd.read_csv(smoke_run / "results" / "reference_scores.csv")
    assert set(refs["env"]) == {"maze", "navigation", "lasertag"} and set(refs["preset"]) == {"smoke"}
    assert (refs["upper_source"] == "scripted").all() and (refs["upper_return"] > refs["random_return"]).all()
    # each reference mean is known to within 2% of the gap (95% interval)
    gap = refs["upper_return"] - refs["random_return"]
    assert (refs[["random_ci", "upper_ci"]].max(axis=1) <= 0.02 * gap + 1e-12).all()
    # one table cell end to end: a run's final score from its summary.json and the references
    run = "results/runs/lasertag/A3C_2col/beta1000_lr4e-3_seed0"
    summary = json.loads((smoke_run / run / "summary.json").read_text())
    task_refs = refs[refs["env"] == "lasertag"].set_index("task")
    expected = np.mean([(summary["final_return"][str(t)] - task_refs.loc[t, "random_return"])
                        / (task_refs.loc[t, "upper_return"] - task_refs.loc[t, "random_return"]) for t in task_refs.index])
    all_runs = pd.read_csv(smoke_run / "results" / "tables" / "all_runs.csv").set_index("run_dir")
    assert all_runs.loc[run, "final_score"] == pytest.approx(expected)
    metrics = json.loads((smoke_run / "results" / "metrics.json").read_text())
    assert {"auc_score", "final_score", "final_iqm"} <= set(metrics["lasertag"]["A3C_2col"])


def test_status_reports_the_finished_study(smoke_run):
    proc = subprocess.run([sys.executable, "-m", "distral_repro.status"], cwd=smoke_run, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    runs = 7 * 3 * 2 + 7 * 3 * 2 + 2 + 2 * 2  # grid, confirmation, A/A check and grid-world runs of the smoke preset
    assert proc.stdout.startswith(f"{runs} of {runs} runs done (100%)") and "complete" in proc.stdout, proc.stdout
    # the ETA weighs a confirmation run by its steps against a grid run's: twice, in the smoke preset
    manifest = json.loads((smoke_run / "logs" / "study.json").read_text())
    assert {stage["env"]: stage["weight"] for stage in manifest["confirmation"]} == {
        "maze": 2.0, "navigation": 2.0, "lasertag": 2.0}


def test_local_training_jobs_fork_from_one_server(smoke_run):
    """Every training job of a local run went through the fork server, which stopped at the end."""
    log = (smoke_run / "logs" / "forkserver.log").read_text().split("stopping\n")[0]  # the first invocation's
    # grid and confirmation runs of the smoke preset, and the A/A check's two extra runs
    jobs = 7 * 3 * 2 + 7 * 3 * 2 + 2
    assert log.endswith(f"{jobs} jobs served, "), log
    assert log.count("exited 0 after") == jobs


@pytest.mark.slow
def test_rebuilding_one_figure_runs_no_training_job(smoke_run):
    target = smoke_run / "paper_figures" / "fig4_maze.pdf"
    target.unlink()
    (smoke_run / "paper_figures" / "fig4_maze.png").unlink()
    jobs = planned_jobs(smoke_run, "--config", "preset=smoke", "--", "paper_figures/fig4_maze.pdf")
    assert jobs == {"figure_fig4": 1}
    summaries = {p: p.stat().st_mtime_ns for p in (smoke_run / "results" / "runs").rglob("summary.json")}
    snakemake(smoke_run, "--cores", "1", "--config", "preset=smoke", "--", "paper_figures/fig4_maze.pdf")
    assert target.exists() and (smoke_run / "paper_figures" / "fig4_maze.png").exists()
    assert {p: p.stat().st_mtime_ns for p in summaries} == summaries


@pytest.mark.slow
def test_report_has_the_figures(smoke_run):
    snakemake(smoke_run, "--config", "preset=smoke", "--report", "report.html")
    html = (smoke_run / "report.html").read_text(errors="replace")
    assert "fig4_maze" in html and "claims" in html


@pytest.mark.slow
def test_a_truncated_run_file_makes_aggregation_fail_naming_the_run(smoke_run, tmp_path):
    broken = smoke_run / "results/runs/navigation/KL_1col/beta1000_lr4e-3_seed0/progress.csv"
    saved = tmp_path / "progress.csv"
    shutil.copy2(broken, saved)
    broken.write_text(broken.read_text().splitlines()[0] + "\n")  # header only: truncated
    try:
        proc = snakemake(smoke_run, "--cores", "1", "--config", "preset=smoke", "--", "results/metrics.json", check=False)
        assert proc.returncode != 0
        # the first job to read it fails naming it: navigation's selection of best settings
        log = (smoke_run / "logs" / "selection" / "navigation.log").read_text()
        assert "navigation/KL_1col/beta1000_lr4e-3_seed0" in log and log.startswith("error: "), log
        # nothing downstream ran on the broken file: the tables are still the complete earlier ones
        assert len(pd.read_csv(smoke_run / "results" / "tables" / "all_runs.csv")) == 7 * 3 * 2
    finally:
        shutil.copy2(saved, broken)
