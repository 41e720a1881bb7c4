"""The workflow through a real single-node Slurm with the repository's profile.

`snakemake --cores all --profile slurm` must submit every training job through
sbatch (seen in `sacct`), keep aggregation and figures local, report a job that
fails on Slurm and exit non-zero, and on a rerun after the fault is fixed run only
what is missing. The cluster (munge, MariaDB, slurmdbd, slurmctld, slurmd) is
brought up from nothing by `slurm_cluster.py` and stopped by PID afterwards; without
root or the Debian packages the tests are skipped and say why.
"""

from __future__ import annotations

import atexit
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from progress_watchdog import run_watched  # noqa: E402
from slurm_cluster import (ACCOUNT, ALT_PARTITION, PARTITION,  # noqa: E402
                           SlurmCluster, missing_requirements)

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

# First status check 2 s after submission (the profile's 20 s suits a real cluster,
# not a test whose jobs last seconds).
FAST_STATUS = ["--slurm-init-seconds-before-status-checks", "2"]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A running cluster for this module; every daemon stopped by PID at the end."""
    reason = missing_requirements()
    if reason:
        pytest.skip(f"no local Slurm: {reason}")
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    # start() stops what it started if it fails; atexit covers an interrupted session.
    atexit.register(cluster.stop)
    cluster.start()
    print(f"\nSlurm setup (munge, MariaDB, slurmdbd, slurmctld, slurmd): "
          f"{cluster.setup_seconds:.1f} s")
    try:
        yield cluster
    finally:
        cluster.stop()
        atexit.unregister(cluster.stop)


def run_snakemake(cluster: SlurmCluster, workdir: Path, *args: str, extra_env: dict | None = None,
                  on_poll=None) -> subprocess.CompletedProcess:
    """`snakemake --cores all --profile slurm ARGS` in workdir, talking to `cluster`.

    No fixed time limit: it is stopped only if it stalls (no output, no file written for
    15 minutes; tests/progress_watchdog.py), so a slow host passes. The result carries
    the wall time in `.seconds`.
    """
    # The Slurm variables of an enclosing job (if pytest runs inside one) are dropped
    # by cluster.env(), so the plugin submits to the test cluster, not as a job step.
    return run_watched(
        [sys.executable, "-m", "snakemake", "--cores", "all", "--profile", "slurm",
         *FAST_STATUS, *args],
        cwd=workdir, env={**cluster.env(), "OMP_NUM_THREADS": "1", **(extra_env or {})},
        on_poll=on_poll)


def job_counts(snakemake_output: str) -> dict[str, int]:
    """Snakemake's first "Job stats" table (the jobs it planned) as {rule: count}."""
    table = re.search(r"Job stats:\n.*?\n-+\s+-+\n(.*?)\n\n", snakemake_output, re.S)
    assert table, "no 'Job stats' table in Snakemake's output:\n" + snakemake_output[-3000:]
    counts = {}
    for line in table.group(1).splitlines():
        rule, count = line.split()
        counts[rule] = int(count)
    return counts


def slurm_allocations(cluster: SlurmCluster) -> list[dict]:
    """Every job allocation (array tasks included) the cluster has recorded."""
    # slurmdbd receives job records asynchronously: wait until none is still pending
    # or running in the database before counting.
    for _ in range(50):
        rows = cluster.sacct("JobID", "JobIDRaw", "JobName", "State", "ExitCode",
                             "Partition", "Account", "Comment")
        if all(row["State"] not in ("PENDING", "RUNNING") for row in rows):
            return rows
        time.sleep(0.2)
    return rows


def describe(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\n--- stderr (tail) ---\n{result.stderr[-4000:]}"


# A throwaway workflow shaped like the real one: many `train` jobs, a local aggregation.
# A job fails while `faults/seed{seed}` exists, like a run tripping over a bad file.
TOY_SNAKEFILE = """
localrules: all, aggregate
SEEDS = range(4)

rule all:
    input: "results/total.txt"

rule train:
    output: "results/runs/seed{seed}.txt"
    threads: 1
    resources: mem_mb=200, runtime=5
    shell: "test ! -e faults/seed{wildcards.seed} && echo $SLURM_JOB_ID > {output}"

rule aggregate:
    input: expand("results/runs/seed{seed}.txt", seed=SEEDS)
    output: "results/total.txt"
    shell: "cat {input} > {output}; echo local ${{SLURM_JOB_ID:-none}} >> {output}"
"""


def test_profile_submits_jobs_reports_failure_and_reruns_only_missing(slurm, tmp_path):
    shutil.copytree(REPO / "slurm", tmp_path / "slurm")
    (tmp_path / "Snakefile").write_text(TOY_SNAKEFILE)
    (tmp_path / "faults").mkdir()
    (tmp_path / "faults" / "seed2").write_text("")
    before = len(slurm_allocations(slurm))

    first = run_snakemake(slurm, tmp_path)
    output = first.stdout + first.stderr
    assert first.returncode != 0, "a failed Slurm job must make Snakemake exit non-zero"
    assert "Error in rule train" in output and "SLURM-job" in output, describe(first)
    assert re.search(r"SLURM-job '\d+(_\d+)?' failed", output), describe(first)
    done = sorted((tmp_path / "results" / "runs").glob("seed*.txt"))
    assert [p.name for p in done] == ["seed0.txt", "seed1.txt", "seed3.txt"], describe(first)
    assert not (tmp_path / "results" / "total.txt").exists()
    # The failed job's Slurm log is kept for inspection.
    assert any("seed2" in p.read_text(errors="replace")
               for p in (tmp_path / ".snakemake" / "slurm_logs").rglob("*.log"))

    rows = slurm_allocations(slurm)[before:]
    # 4 training jobs plus one retry of the failing one (profile: retries: 1).
    assert len(rows) == 5, rows
    assert sorted(row["State"] for row in rows) == ["COMPLETED"] * 3 + ["FAILED"] * 2, rows
    # Every Slurm job is one of this run's (the plugin names them by its run ID).
    assert len({row["JobName"] for row in rows}) == 1, rows
    # Each output was written inside one of these Slurm jobs: it holds that job's ID.
    for path in done:
        assert path.read_text().strip() in {row["JobIDRaw"] for row in rows}, path

    assert {row["Partition"] for row in rows} == {PARTITION}  # the cluster's default

    # Fix the fault and rerun, choosing partition and account the documented way.
    (tmp_path / "faults" / "seed2").unlink()
    second = run_snakemake(slurm, tmp_path, extra_env={"SBATCH_PARTITION": ALT_PARTITION,
                                                       "SBATCH_ACCOUNT": ACCOUNT})
    assert second.returncode == 0, describe(second)
    assert job_counts(second.stdout + second.stderr) == {"train": 1, "aggregate": 1,
                                                        "all": 1, "total": 3}
    rows2 = slurm_allocations(slurm)[before + len(rows):]
    assert [(row["State"], row["Partition"], row["Account"]) for row in rows2] == [
        ("COMPLETED", ALT_PARTITION, ACCOUNT)], rows2
    total = (tmp_path / "results" / "total.txt").read_text().split("\n")
    # Aggregation ran on the submitting machine, outside any Slurm job.
    assert total[-2] == "local none", total
    print(f"toy workflow through Slurm: {first.seconds:.0f} s with the failure, "
          f"{second.seconds:.0f} s for the rerun")



# ----------------------------------------------------------------- the real smoke grid

# What a user's clone needs to run the workflow (the package itself is installed).
WORKFLOW_FILES = ("Snakefile", "rules", "config", "report", "slurm", "profiles")
# The smoke preset, as in `snakemake --cores all --config preset=smoke`.
SMOKE = ["--config", "preset=smoke"]
# A part of the smoke grid: one environment, two algorithms, two seeds, the grid world,
# aggregation and figures. The whole smoke grid runs locally in test_workflow.py; through
# Slurm a part shows the same (every training job submitted, local rules local) in a fifth
# of the CI time.
SMOKE_PART = [*SMOKE, "environments=[maze]", "algorithms=[A3C,KL+ent_2col]", "seeds=[0,1]"]


def copy_workflow(dest: Path) -> None:
    for name in WORKFLOW_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, dest / name,
                            ignore=shutil.ignore_patterns("__pycache__", ".snakemake"))
        elif source.exists():
            shutil.copy2(source, dest / name)
    assert (dest / "Snakefile").exists(), "no Snakefile in the checkout"


def planned_outputs(workdir: Path, *args: str) -> list[tuple[str, str]]:
    """(output file, rule) of every file the workflow would make, from `--summary`."""
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--summary", *args],
        cwd=workdir, capture_output=True, text=True)
    assert result.returncode == 0, describe(result)
    lines = [line.split("\t") for line in result.stdout.splitlines() if "\t" in line]
    assert lines and lines[0][:3] == ["output_file", "date", "rule"], result.stdout[:2000]
    return [(fields[0], fields[2]) for fields in lines[1:]]


def rules_run(snakemake_output: str) -> tuple[list[str], list[str]]:
    """Rules of the jobs Snakemake sent to Slurm, and of those it ran itself (local)."""
    remote = re.findall(r"^\s*rule (\S+):$", snakemake_output, re.M)
    local = re.findall(r"^\s*localrule (\S+):$", snakemake_output, re.M)
    return remote, local


def test_part_of_the_smoke_grid_through_slurm(slurm, tmp_path):
    copy_workflow(tmp_path)
    # One stage: this test counts the Slurm jobs of a DAG known before the run, and the
    # confirmation runs join the DAG only after their env's selection (a checkpoint). They go
    # through Slurm in the next test.
    (tmp_path / "one_stage.yaml").write_text("confirmation: null\n")
    smoke = [*SMOKE_PART, "--configfile", "one_stage.yaml"]
    outputs = planned_outputs(tmp_path, *smoke)
    # Training jobs: the grid's runs and the grid-world runs, one summary.json each.
    summaries = sorted(path for path, _ in outputs
                       if path.startswith(("results/runs/", "results/gridworld/"))
                       and path.endswith("/summary.json"))
    assert any(path.startswith("results/runs/") for path in summaries), outputs
    train_rules = {rule for path, rule in outputs if path in summaries}

    # The fault: one run finds a corrupt checkpoint, as a broken disk could leave it.
    # The training command resumes from checkpoint.pt and must fail on this one.
    faulty = next(path for path in summaries if path.startswith("results/runs/"))
    faulty_run = tmp_path / Path(faulty).parent
    faulty_run.mkdir(parents=True)
    (faulty_run / "checkpoint.pt").write_bytes(b"not a checkpoint")
    before = len(slurm_allocations(slurm))

    first = run_snakemake(slurm, tmp_path, *smoke)
    output = first.stdout + first.stderr
    assert first.returncode != 0, "a failed Slurm job must make Snakemake exit non-zero"
    assert re.search(r"SLURM-job '\d+' failed", output), describe(first)
    assert str(faulty_run.relative_to(tmp_path)) in output, describe(first)
    # The failed job's Slurm log, named in the report, is kept.
    # Snakemake lists the rule's own log and the Slurm log: "log: A, B (check log ...)".
    log_lines = re.findall(r"^\s+log: (.+?) \(check log", output, re.M)
    named_logs = [part.strip() for line in log_lines for part in line.split(",")]
    failed_logs = [log for log in named_logs if "slurm_logs" in log]
    assert failed_logs and all(Path(log).exists() for log in failed_logs), named_logs
    # The training command's own log says what went wrong.
    rule_logs = [tmp_path / log for log in named_logs if log.startswith("logs/train/")]
    assert rule_logs and "cannot read checkpoint" in rule_logs[0].read_text(), named_logs
    remote, local = rules_run(output)
    # Every training job went to Slurm, and nothing else did.
    assert set(remote) == train_rules, (set(remote), train_rules)
    assert not set(local) & train_rules, local
    missing = [path for path in summaries if not (tmp_path / path).exists()]
    assert missing == [faulty], missing

    rows = slurm_allocations(slurm)[before:]
    # One Slurm job per submission: each training job once, the faulty one twice
    # (the profile retries once).
    assert len(rows) == len(remote) == len(summaries) + 1, (len(rows), len(remote))
    states = sorted(row["State"] for row in rows)
    assert states == ["COMPLETED"] * (len(summaries) - 1) + ["FAILED"] * 2, states
    # sacct names each job's rule and wildcards (the plugin's --comment): one per run.
    comments = {row["Comment"] for row in rows}
    assert len(comments) == len(summaries), sorted(comments)
    assert all(comment.startswith(tuple(f"rule_{rule}" for rule in train_rules))
               for comment in comments), sorted(comments)
    for path in set(summaries) - {faulty}:
        summary = json.loads((tmp_path / path).read_text())
        assert summary["status"] in ("ok", "diverged"), (path, summary["status"])

    assert {row["Partition"] for row in rows} == {PARTITION}  # the cluster's default

    # Fix the fault, rerun: only the missing run goes to Slurm, then the local rules.
    # Partition and account chosen the documented way.
    (faulty_run / "checkpoint.pt").unlink()
    second = run_snakemake(slurm, tmp_path, *smoke, extra_env={
        "SBATCH_PARTITION": ALT_PARTITION, "SBATCH_ACCOUNT": ACCOUNT})
    assert second.returncode == 0, describe(second)
    output = second.stdout + second.stderr
    remote, local = rules_run(output)
    assert len(remote) == 1 and set(remote) <= train_rules, remote
    counts = job_counts(output)
    assert sum(counts[rule] for rule in train_rules if rule in counts) == 1, counts
    rows2 = slurm_allocations(slurm)[before + len(rows):]
    assert [(row["State"], row["Partition"], row["Account"]) for row in rows2] == [
        ("COMPLETED", ALT_PARTITION, ACCOUNT)], rows2
    assert json.loads((tmp_path / faulty).read_text())["status"] in ("ok", "diverged")
    # Everything the workflow makes is there now: nothing left to do.
    dry = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "-n", *smoke],
                         cwd=tmp_path, capture_output=True, text=True)
    assert "Nothing to be done" in dry.stdout + dry.stderr, describe(dry)
    print(f"part of the smoke grid through Slurm: {len(summaries)} training jobs, "
          f"{first.seconds:.0f} s (one job failing), {second.seconds:.0f} s for the rerun")


# ------------------------------------------------------- a cancelled job is retried


def test_a_cancelled_running_job_is_retried_and_the_run_completes(slurm, tmp_path):
    """`scancel` of a running training job (as a user, an admin, preemption or a time limit
    would end it): Snakemake sees it failed at its next status poll, resubmits it (the
    profile's `retries: 1`), the retry resumes from the checkpoint, and the run ends with
    every output and exit 0. Plugin 2.8.0 with sacct would wait for it for ever."""
    copy_workflow(tmp_path)
    before = len(slurm_allocations(slurm))
    cancelled: list[str] = []

    def cancel_one_running_training_job(proc):
        if cancelled or not any((tmp_path / "results" / "runs").rglob("checkpoint.pt")):
            return  # wait until a job is mid-run (its first checkpoint is written)
        queue = slurm._run(["squeue", "--noheader", "--format=%i|%T|%k"]).stdout.split()
        running = [line.split("|")[0] for line in queue
                   if line.split("|")[1] == "RUNNING" and line.split("|")[2].startswith("rule_train")]
        if running:
            slurm._run(["scancel", running[0]])
            cancelled.append(running[0])

    result = run_snakemake(slurm, tmp_path, *SMOKE_PART, on_poll=cancel_one_running_training_job)
    output = result.stdout + result.stderr
    assert cancelled, "no training job was seen running"
    assert result.returncode == 0, describe(result)
    rows = {row["JobIDRaw"]: row for row in slurm_allocations(slurm)[before:]}
    state = rows[cancelled[0]]["State"]
    # The job may have finished in the instant before scancel reached it; then there is
    # nothing to retry and the test says so rather than pass vacuously.
    assert state.startswith("CANCELLED"), f"job {cancelled[0]} ended {state} before the cancel"
    assert re.search(rf"SLURM-job '{cancelled[0]}' failed, SLURM status is: 'CANCELLED'", output), describe(result)
    # Retried: its rule and wildcards were submitted twice, the second time completed.
    # Stage 2 went through Slurm too: the confirmation runs of the best settings.
    assert any(row["Comment"].startswith("rule_train_confirmation") for row in rows.values()), rows
    comment = rows[cancelled[0]]["Comment"]
    retries = [row for row in rows.values() if row["Comment"] == comment]
    assert sorted(row["State"].split()[0] for row in retries) == ["CANCELLED", "COMPLETED"], retries
    dry = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "-n", *SMOKE_PART],
                         cwd=tmp_path, capture_output=True, text=True)
    assert "Nothing to be done" in dry.stdout + dry.stderr, describe(dry)
    print(f"part of the smoke grid through Slurm with one job cancelled and retried: {result.seconds:.0f} s")


# --------------------------------------- a job longer than the time limit runs in chunks

# One training run of the default preset, lengthened (config key `steps_per_task`) to about
# 100 s of one quiet core, under a 1-minute time limit: Slurm cuts it (TIMEOUT: SIGTERM,
# checkpoint written, exit 143), Snakemake resubmits it (the rule's retries, from
# resources.train.total_minutes / runtime) and each submission resumes from the checkpoint.
CHUNKED_RUN = "results/runs/maze/KL+ent_2col/beta1000_lr4e-3_seed0"
CHUNKED_STEPS = 300_000
CHUNKED_CONFIG = {
    "environments": ["maze"], "algorithms": ["KL+ent_2col"], "betas": ["1000"], "lrs": ["4e-3"], "seeds": [0],
    "steps_per_task": {"maze": CHUNKED_STEPS},
    "resources": {"train": {"mem_mb": 1500, "runtime": 1, "total_minutes": 15},
                  "gridworld": {"mem_mb": 500, "runtime": 5}},
}
# What may differ between two runs of one command: the clock.
CLOCK_KEYS = ("wall_time_s", "steps_per_second")


def test_a_job_longer_than_its_time_limit_completes_in_chunks_with_the_files_of_an_uncut_run(slurm, tmp_path):
    import yaml

    wf = tmp_path / "wf"
    wf.mkdir()
    copy_workflow(wf)
    (wf / "chunked.yaml").write_text(yaml.safe_dump(CHUNKED_CONFIG))
    before = len(slurm_allocations(slurm))
    result = run_snakemake(slurm, wf, f"{CHUNKED_RUN}/summary.json", "--configfile", "chunked.yaml")
    assert result.returncode == 0, describe(result)
    rows = [row for row in slurm_allocations(slurm)[before:] if row["Comment"].startswith("rule_train")]
    states = [row["State"].split()[0] for row in rows]
    # Cut at least once by the time limit (more often on a slow or busy host), then completed.
    assert states[-1] == "COMPLETED" and len(states) >= 2 and set(states[:-1]) == {"TIMEOUT"}, states
    assert len(states) <= 1 + 15, states  # within the rule's retries
    output = result.stdout + result.stderr
    assert len(re.findall(r"SLURM status is: 'TIMEOUT'", output)) == len(states) - 1, describe(result)

    uncut = tmp_path / "uncut"
    subprocess.run(
        [sys.executable, "-m", "distral_repro.train", "--algo", "KL+ent_2col", "--env", "maze", "--beta", "1000",
         "--lr", "4e-3", "--seed", "0", "--preset", "default", "--steps-per-task", str(CHUNKED_STEPS),
         "--threads", "1", "--quiet", "--out", str(uncut)],
        check=True, env={**slurm.env(), "PYTHONPATH": str(REPO)})
    chunked = wf / CHUNKED_RUN
    assert sorted(p.name for p in chunked.iterdir()) == sorted(p.name for p in uncut.iterdir()) == [
        "pi0_eval.csv", "progress.csv", "provenance.json", "summary.json"]
    for name in ("progress.csv", "pi0_eval.csv"):
        assert (chunked / name).read_bytes() == (uncut / name).read_bytes(), name
    a, b = (json.loads((d / "summary.json").read_text()) for d in (chunked, uncut))
    assert {k: v for k, v in a.items() if k not in CLOCK_KEYS} == {k: v for k, v in b.items() if k not in CLOCK_KEYS}
    print(f"one run in {len(states)} Slurm jobs ({', '.join(states)}): {result.seconds:.0f} s")
