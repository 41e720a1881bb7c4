"""`python -m distral_repro.status`: done/total, failures and an ETA from the run directories."""

import json
import os

from distral_repro import status


def _study(root, runs, started):
    (root / "logs").mkdir(parents=True, exist_ok=True)
    manifest = [{"run": f"results/runs/r{i}", "log": f"logs/train/r{i}.log"} for i in range(runs)]
    (root / "logs" / "study.json").write_text(json.dumps({"started": started, "runs": manifest}))
    return manifest


def _finish(root, job, state="ok", mtime=None):
    run = root / job["run"]
    run.mkdir(parents=True, exist_ok=True)
    (run / "summary.json").write_text(json.dumps({"status": state}))
    if mtime is not None:
        os.utime(run / "summary.json", (mtime, mtime))


def test_counts_and_eta_from_the_rate_since_start(tmp_path):
    jobs = _study(tmp_path, 10, started=1000.0)
    _finish(tmp_path, jobs[0], mtime=900.0)           # finished by an earlier invocation
    _finish(tmp_path, jobs[1], mtime=1100.0)
    _finish(tmp_path, jobs[2], "diverged", mtime=1200.0)
    (tmp_path / jobs[3]["run"]).mkdir(parents=True)
    (tmp_path / jobs[3]["run"] / "checkpoint.pt").write_bytes(b"")
    log = tmp_path / jobs[4]["log"]
    log.parent.mkdir(parents=True)
    log.write_text("step 40/1600\ndistral_repro.train: error: cannot read checkpoint x\n")
    s = status.study_status(tmp_path, now=1400.0)
    assert (s.total, s.ok, s.diverged, s.running, s.failed) == (10, 2, 1, 1, [jobs[4]["run"]])
    # 2 runs finished in the 400 s since the start: 7 left take 7 x 200 s.
    assert s.finished_since_start == 2 and s.eta_s() == 1400.0
    assert s.line().startswith("3 of 10 runs done (30%): 2 ok, 1 diverged; 1 running, 1 failed; ETA 23m20s")


def test_no_eta_before_a_run_finishes_and_complete_at_the_end(tmp_path, capsys):
    jobs = _study(tmp_path, 2, started=1000.0)
    assert "ETA unknown" in status.study_status(tmp_path, now=1010.0).line()
    for job in jobs:
        _finish(tmp_path, job)
    assert status.main(["--root", str(tmp_path), "--watch", "1"]) == 0  # returns once complete
    assert "2 of 2 runs done (100%)" in capsys.readouterr().out


def test_without_a_started_workflow_one_line_and_exit_2(tmp_path, capsys):
    assert status.main(["--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "start the workflow first" in err and err.count("\n") == 1


def test_confirmation_runs_count_before_and_after_their_selection(tmp_path):
    """Before its env's selection a confirmation stage counts as runs to do; after, by name."""
    _study(tmp_path, 2, started=1000.0)
    manifest = json.loads((tmp_path / "logs" / "study.json").read_text())
    manifest["confirmation"] = [{"env": "maze", "selection": "results/selection/maze.csv", "seeds": [4, 5], "runs": 4}]
    (tmp_path / "logs" / "study.json").write_text(json.dumps(manifest))
    assert status.study_status(tmp_path, now=1100.0).total == 2 + 4
    selection = tmp_path / "results" / "selection" / "maze.csv"
    selection.parent.mkdir(parents=True)
    selection.write_text("env,algo,setting,beta,lr\nmaze,A3C,beta300_lr4e-3,300,0.004\nmaze,KL_1col,beta1000_lr2e-3,1000,0.002\n")
    _finish(tmp_path, {"run": "results/confirmation/maze/KL_1col/beta1000_lr2e-3_seed5"}, mtime=1050.0)
    s = status.study_status(tmp_path, now=1100.0)
    assert (s.total, s.ok) == (2 + 4, 1)


def test_eta_weighs_confirmation_runs_by_their_steps(tmp_path):
    """A confirmation run of weight 3 (3x a grid run's steps) counts as 3 grid runs of work."""
    jobs = _study(tmp_path, 2, started=1000.0)
    manifest = json.loads((tmp_path / "logs" / "study.json").read_text())
    manifest["confirmation"] = [{"env": "maze", "selection": "results/selection/maze.csv", "seeds": [4], "runs": 2,
                                 "weight": 3.0}]
    (tmp_path / "logs" / "study.json").write_text(json.dumps(manifest))
    _finish(tmp_path, jobs[0], mtime=1100.0)
    _finish(tmp_path, jobs[1], mtime=1200.0)
    # before the selection: 2 unselected runs x 3 = 6 grid runs of work left at 100 s each
    assert status.study_status(tmp_path, now=1200.0).eta_s() == 600.0
    selection = tmp_path / "results" / "selection" / "maze.csv"
    selection.parent.mkdir(parents=True)
    selection.write_text("env,algo,setting,beta,lr\nmaze,A3C,beta300_lr4e-3,300,0.004\nmaze,KL_1col,beta1000_lr2e-3,1000,0.002\n")
    _finish(tmp_path, {"run": "results/confirmation/maze/A3C/beta300_lr4e-3_seed4"}, mtime=1500.0)
    s = status.study_status(tmp_path, now=1500.0)
    # 5 runs of work (1 + 1 + 3) in 500 s; one confirmation run (3) left
    assert (s.done, s.total) == (3, 4) and s.eta_s() == 300.0


def test_the_aa_check_counts_its_one_algorithm_on_its_own_seeds(tmp_path):
    """The A/A stage of the manifest (`algos`): its algorithm's runs only, counted in the total."""
    _study(tmp_path, 2, started=1000.0)
    manifest = json.loads((tmp_path / "logs" / "study.json").read_text())
    manifest["confirmation"] = [
        {"env": "maze", "selection": "results/selection/maze.csv", "seeds": [4], "runs": 2},
        {"env": "maze", "selection": "results/selection/maze.csv", "seeds": [8, 9], "algos": ["KL_1col"], "runs": 2},
    ]
    (tmp_path / "logs" / "study.json").write_text(json.dumps(manifest))
    assert status.study_status(tmp_path, now=1100.0).total == 2 + 2 + 2
    selection = tmp_path / "results" / "selection" / "maze.csv"
    selection.parent.mkdir(parents=True)
    selection.write_text("env,algo,setting,beta,lr\nmaze,A3C,beta300_lr4e-3,300,0.004\nmaze,KL_1col,beta1000_lr2e-3,1000,0.002\n")
    _finish(tmp_path, {"run": "results/confirmation/maze/KL_1col/beta1000_lr2e-3_seed9"}, mtime=1050.0)
    s = status.study_status(tmp_path, now=1100.0)
    assert (s.total, s.ok) == (2 + 2 + 2, 1)


def test_runs_lists_the_study_and_nothing_an_older_study_left(tmp_path, capsys):
    """--runs: the manifest's runs and the selected settings' confirmation runs on the configured
    seeds; a run of another setting or seed in the same results/ (an older study's) is not listed."""
    _study(tmp_path, 2, started=1000.0)
    manifest = json.loads((tmp_path / "logs" / "study.json").read_text())
    manifest["confirmation"] = [
        {"env": "maze", "selection": "results/selection/maze.csv", "seeds": [2, 3], "runs": 4},
        {"env": "maze", "selection": "results/selection/maze.csv", "seeds": [8], "algos": ["KL_1col"], "runs": 1},
    ]
    (tmp_path / "logs" / "study.json").write_text(json.dumps(manifest))
    selection = tmp_path / "results" / "selection" / "maze.csv"
    selection.parent.mkdir(parents=True)
    selection.write_text("env,algo,setting,beta,lr\nmaze,A3C,beta300_lr4e-3,300,0.004\nmaze,KL_1col,beta1000_lr2e-3,1000,0.002\n")
    _finish(tmp_path, {"run": "results/confirmation/maze/A3C/beta3000_lr8e-3_seed4"})  # an older study's
    assert status.main(["--root", str(tmp_path), "--runs"]) == 0
    assert capsys.readouterr().out.split() == [
        "results/runs/r0", "results/runs/r1",
        "results/confirmation/maze/A3C/beta300_lr4e-3_seed2", "results/confirmation/maze/A3C/beta300_lr4e-3_seed3",
        "results/confirmation/maze/KL_1col/beta1000_lr2e-3_seed2", "results/confirmation/maze/KL_1col/beta1000_lr2e-3_seed3",
        "results/confirmation/maze/KL_1col/beta1000_lr2e-3_seed8"]
    assert status.main(["--root", str(tmp_path / "nowhere"), "--runs"]) == 2
