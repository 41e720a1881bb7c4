"""`python -m distral_repro.bench learning` and `jobs`: whole jobs timed by the kernel."""

import json

import pandas as pd

from distral_repro.bench import learning


def test_learning_benchmark_times_whole_jobs_of_both_settings(tmp_path):
    out = tmp_path / "bench"
    assert learning.main(["--settings", "before", "after", "--envs", "lasertag", "--algos", "A3C",
                          "--steps-scale", "0.05", "--parallel", "2", "--out-dir", str(out)]) == 0
    table = pd.read_csv(out / "learning.csv").set_index("setting")
    assert list(table.index) == ["before", "after"] and (table["core_seconds"] > 0.5).all()
    before = json.loads((out / "runs" / "before_lasertag_A3C_seed4" / "summary.json").read_text())
    after = json.loads((out / "runs" / "after_lasertag_A3C_seed4" / "summary.json").read_text())
    assert before["config"]["hyper"]["rmsprop_eps"] == 1e-5 and not before["config"]["hyper"]["bootstrap_time_limit"]
    assert after["config"]["hyper"]["rmsprop_eps"] == 1e-7 and after["config"]["hyper"]["bootstrap_time_limit"]
    assert before["steps_per_task"] == after["steps_per_task"] == 3200  # 0.05 x 64k
    refs = pd.read_csv(out / "references_before.csv")
    assert set(refs["env"]) == {"lasertag"}


def test_learning_benchmark_first_person_setting_trains_on_pixels(tmp_path):
    out = tmp_path / "bench"
    assert learning.main(["--settings", "first_person", "--envs", "maze", "--algos", "A3C", "--lr", "2e-3",
                          "--steps-scale", "0.01", "--parallel", "1", "--out-dir", str(out)]) == 0
    summary = json.loads((out / "runs" / "first_person_maze_A3C_seed4" / "summary.json").read_text())
    assert (summary["config"]["view"], summary["config"]["image_size"]) == ("first_person", 32)
    assert summary["lr"] == 2e-3 and summary["steps_per_task"] >= 1280  # 0.01 x 128k
    assert pd.read_csv(out / "learning.csv")["setting"].tolist() == ["first_person"]


def test_the_before_setting_rebuilds_navigations_old_maps(tmp_path, monkeypatch, capsys):
    """`_run` replaces the default preset's env settings, then runs the module as `python -m`."""
    import copy
    import sys

    from distral_repro.envs import families

    monkeypatch.setattr(families, "PRESETS", copy.deepcopy(families.PRESETS))
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    (tmp_path / "show_size.py").write_text(
        "from distral_repro.envs import families\nprint(families.PRESETS['default']['navigation']['size'])\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert families.PRESETS["default"]["navigation"]["size"] == 11
    learning.run_patched(["navigation.size=15", "--", "show_size"])
    assert capsys.readouterr().out.strip() == "15"


def test_jobs_benchmark_runs_the_same_jobs_both_ways_with_identical_files(tmp_path, capsys):
    from distral_repro.bench import jobs

    out = tmp_path / "jobs.json"
    assert jobs.main(["--preset", "smoke", "--algos", "A3C", "--seeds", "0", "1", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["results"]
    assert [r["way"] for r in rows] == ["direct", "fork server"] and all(r["identical_files"] for r in rows)
    assert all(r["jobs"] == 2 and r["core_s"] > 0 for r in rows)
    assert "identical progress.csv files: True" in capsys.readouterr().out


def test_scheduler_benchmark_runs_snakemake_under_each_rate_limit(tmp_path, capsys):
    from distral_repro.bench import scheduler

    out = tmp_path / "scheduler.json"
    assert scheduler.main(["--jobs", "4", "--sleep", "0", "--timespans", "100/1s", "1000/10s", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["results"]
    assert [r["max_jobs_per_timespan"] for r in rows] == ["100/1s", "1000/10s"]
    for r in rows:
        assert r["jobs"] == 4 and r["snakemake_core_s"] > 0 and r["peak_threads"] >= 1
        assert r["wall_s"] >= r["exit_tail_s"] >= 0
    assert "1000/10s" in capsys.readouterr().out


def test_scheduler_benchmark_rejects_bad_input_before_any_run(capsys):
    import pytest

    from distral_repro.bench import scheduler

    with pytest.raises(SystemExit) as exit_info:
        scheduler.main(["--jobs", "0"])
    assert exit_info.value.code == 2 and "--jobs" in capsys.readouterr().err
