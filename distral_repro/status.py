"""Progress of the whole study: ``python -m distral_repro.status [--watch SECONDS]``.

Reads only files: the list of runs that ``snakemake`` wrote when it started
(``logs/study.json``, from the workflow's ``onstart``) and the run directories. Prints
the runs done (ok / diverged), running (a checkpoint, no summary yet), failed (the
job's log ends in an error), still to do, and an estimate of the time left from the
rate at which work finished since the study started, a run's work being its env steps
relative to a grid run of its env (a confirmation run of 128k steps per task against the
grid's 60k counts 2.13: the manifest's `weight`). Works the same locally and on Slurm
(run it on the submitting machine, in the repository root).

``--runs`` prints instead the directory of every run of the study (grid, grid world, and the
confirmation and A/A runs of every env whose selection exists), one per line: the runs a
publication archives, and none of what an older study left in the same ``results/``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

MANIFEST = Path("logs/study.json")


@dataclass
class StudyStatus:
    total: int
    ok: int
    diverged: int
    running: int
    failed: list[str]
    finished_since_start: int
    elapsed_s: float
    work_left: float = 0.0  # in grid runs: a run's weight, summed over the runs not done
    work_since_start: float = 0.0  # the same, over the runs finished since the start

    @property
    def done(self) -> int:
        return self.ok + self.diverged

    @property
    def todo(self) -> int:
        return self.total - self.done

    def eta_s(self) -> float | None:
        """Seconds left at the rate work finished since the study started (None before the first run)."""
        if self.work_since_start <= 0 or self.elapsed_s <= 0:  # every run weighs > 0: none finished yet
            return None
        return self.work_left * self.elapsed_s / self.work_since_start

    def line(self) -> str:
        pct = 100.0 * self.done / self.total if self.total else 100.0
        eta = self.eta_s()
        eta_text = "ETA unknown until a run finishes" if eta is None else f"ETA {_duration(eta)}"
        if self.todo == 0:
            eta_text = "complete"
        return (f"{self.done} of {self.total} runs done ({pct:.0f}%): {self.ok} ok, {self.diverged} diverged; "
                f"{self.running} running, {len(self.failed)} failed; {eta_text} "
                f"(elapsed {_duration(self.elapsed_s)})")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def _failed(log: Path) -> bool:
    if not log.is_file():
        return False
    lines = log.read_text(errors="replace").strip().splitlines()
    return bool(lines) and ("error" in lines[-1].lower() or lines[-1].startswith("Traceback"))


def read_manifest(root: Path) -> dict:
    """ROOT/logs/study.json, the runs the last `snakemake` invocation planned."""
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{manifest_path} not found: start the workflow first (snakemake --cores all)")
    return json.loads(manifest_path.read_text())


def manifest_jobs(root: Path, manifest: dict) -> tuple[list[dict], list[dict]]:
    """The manifest's jobs (grid and grid-world runs, then the confirmation and A/A runs of
    every env whose selection exists) and the confirmation stages not selected yet."""
    jobs, pending = list(manifest["runs"]), []
    for stage in manifest.get("confirmation", []):
        known = confirmation_jobs(root, stage)
        jobs += known
        if not known:
            pending.append(stage)
    return jobs, pending


def study_runs(root: Path = Path(".")) -> list[str]:
    """The run directories of the study (relative to ROOT), in the manifest's order."""
    return [job["run"] for job in manifest_jobs(root, read_manifest(root))[0]]


def study_status(root: Path = Path("."), now: float | None = None) -> StudyStatus:
    """Count the runs listed in ROOT/logs/study.json by what their directories hold."""
    manifest = read_manifest(root)
    started = float(manifest["started"])
    now = time.time() if now is None else now
    ok = diverged = running = finished_since_start = 0
    work_left = work_since_start = 0.0
    failed = []
    jobs, pending = manifest_jobs(root, manifest)
    unknown = sum(int(stage["runs"]) for stage in pending)  # not selected yet: counted as to do
    work_left += sum(int(stage["runs"]) * float(stage.get("weight", 1.0)) for stage in pending)
    for job in jobs:
        run_dir, log = root / job["run"], root / job["log"]
        weight = float(job.get("weight", 1.0))
        summary = run_dir / "summary.json"
        if summary.is_file():
            try:
                status = json.loads(summary.read_text()).get("status")
            except ValueError:
                status = None
            diverged += status == "diverged"
            ok += status != "diverged"
            if summary.stat().st_mtime >= started:
                finished_since_start += 1
                work_since_start += weight
            continue
        work_left += weight
        if _failed(log):
            failed.append(job["run"])
        elif (run_dir / "checkpoint.pt").is_file() or (log.is_file() and log.stat().st_mtime >= started):
            running += 1
    return StudyStatus(len(jobs) + unknown, ok, diverged, running, failed, finished_since_start, now - started,
                       work_left, work_since_start)


def confirmation_jobs(root: Path, stage: dict) -> list[dict]:
    """The confirmation runs of one env, once its selection table exists (else none yet); a
    stage with `algos` (the A/A check) has the runs of those algorithms only."""
    selection = root / stage["selection"]
    if not selection.is_file():
        return []
    with selection.open(newline="") as table:
        rows = list(csv.DictReader(table))
    jobs = []
    for row in rows:
        if "algos" in stage and row["algo"] not in stage["algos"]:
            continue
        for seed in stage["seeds"]:
            run = f"results/confirmation/{stage['env']}/{row['algo']}/{row['setting']}_seed{seed}"
            jobs.append({"run": run, "log": run.replace("results/", "logs/", 1) + ".log",
                         "weight": float(stage.get("weight", 1.0))})
    return jobs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distral_repro.status", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path("."), help="the workflow's directory (default: here)")
    parser.add_argument("--watch", type=float, metavar="SECONDS", help="print again every SECONDS until done")
    parser.add_argument("--runs", action="store_true", help="print every run directory of the study, one per line")
    args = parser.parse_args(argv)
    while True:
        try:
            if args.runs:
                print("\n".join(study_runs(args.root)))
                return 0
            status = study_status(args.root)
        except (FileNotFoundError, ValueError, KeyError) as exc:
            print(f"distral_repro.status: error: {exc}", file=sys.stderr)
            return 2
        print(status.line(), flush=True)
        for run in status.failed:
            print(f"  failed: {run}", flush=True)
        if not args.watch or status.todo == 0:
            return 0
        time.sleep(args.watch)


if __name__ == "__main__":
    sys.exit(main())
