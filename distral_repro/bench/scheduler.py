"""`python -m distral_repro.bench scheduler`: the CPU Snakemake's own process spends scheduling.

A workflow of `--jobs` jobs that only sleep (`--sleep` seconds each, all ready at once, as
the grid's 756 training jobs are) runs with `--cores` cores under each `--max-jobs-per-timespan`
value given. Snakemake 9's job rate limiter (`--max-jobs-per-timespan`, default 100/1s) makes
every pass of the scheduler's loop start a timer that wakes the loop again one timespan later,
and each job that ends starts one more such chain: after N jobs the loop runs about N times per
timespan, each pass going over every ready job. Measured per value: Snakemake's core-seconds
(user + sys of it and its children, `RUSAGE_CHILDREN`; a sleeping job costs next to nothing),
its peak number of threads (the timers), the wall time, and the tail from the last job's end to
Snakemake's exit (a pending timer is a non-daemon thread, so Python waits for it at exit).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from distral_repro.bench.jobs import _core_s

SNAKEFILE = """\
N = {jobs}
rule all:
    input: expand("out/{{i}}.txt", i=range(N))
rule job:
    output: "out/{{i}}.txt"
    shell: "sleep {sleep}; touch {{output}}"
"""


def _peak_threads(proc: subprocess.Popen, peak: list[int]) -> None:
    task = Path(f"/proc/{proc.pid}/task")
    while proc.poll() is None:
        try:
            peak[0] = max(peak[0], len(list(task.iterdir())))
        except OSError:
            pass
        time.sleep(0.5)


def measure(jobs: int, sleep: float, cores: int, timespan: str, scratch: Path, scheduler: str = "ilp") -> dict:
    """One Snakemake run of the sleeping workflow with `--max-jobs-per-timespan TIMESPAN`."""
    root = scratch / f"{scheduler}_{timespan.replace('/', '_per_')}"
    root.mkdir()
    (root / "Snakefile").write_text(SNAKEFILE.format(jobs=jobs, sleep=sleep))
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--quiet", "all",
           "--max-jobs-per-timespan", timespan, "--scheduler", scheduler, "--workflow-profile", "none"]
    core, wall = _core_s(), time.perf_counter()
    with open(root / "snakemake.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=root, stdout=log, stderr=subprocess.STDOUT)
        peak = [0]
        watcher = threading.Thread(target=_peak_threads, args=(proc, peak), daemon=True)
        watcher.start()
        rc = proc.wait()
    end = time.time()
    core, wall = _core_s() - core, time.perf_counter() - wall
    if rc != 0:
        raise RuntimeError(f"snakemake exited {rc}: see {root / 'snakemake.log'}")
    last = max(p.stat().st_mtime for p in (root / "out").iterdir())
    ideal = jobs * sleep / cores
    return {"max_jobs_per_timespan": timespan, "scheduler": scheduler, "jobs": jobs, "sleep_s": sleep, "cores": cores,
            "snakemake_core_s": core, "core_s_per_job": core / jobs, "peak_threads": peak[0],
            "wall_s": wall, "ideal_wall_s": ideal, "exit_tail_s": end - last}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distral_repro.bench scheduler", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--sleep", type=float, default=1.0, help="seconds each job sleeps")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--timespans", nargs="+", default=["100/1s", "1000/10s"],
                        help="values of --max-jobs-per-timespan to compare (Snakemake's default first)")
    parser.add_argument("--scheduler", choices=("ilp", "greedy"), default="ilp",
                        help="Snakemake's job selector (its default: ilp)")
    parser.add_argument("--json", type=Path, help="also write the measurements to this JSON file")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.sleep < 0 or args.cores < 1:
        parser.error("--jobs and --cores must be at least 1, --sleep at least 0")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for timespan in args.timespans:
            rows.append(measure(args.jobs, args.sleep, args.cores, timespan, Path(scratch), args.scheduler))
    print(f"{args.jobs} jobs sleeping {args.sleep:g} s, --cores {args.cores}, --scheduler {args.scheduler}:")
    print(f"{'--max-jobs-per-timespan':>24} {'snakemake core-s':>17} {'per job':>8} {'peak threads':>13} {'wall s':>8} {'ideal':>6} {'exit tail s':>12}")
    for r in rows:
        print(f"{r['max_jobs_per_timespan']:>24} {r['snakemake_core_s']:>17.1f} {r['core_s_per_job']:>8.3f} {r['peak_threads']:>13} "
              f"{r['wall_s']:>8.1f} {r['ideal_wall_s']:>6.0f} {r['exit_tail_s']:>12.1f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"results": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
