"""Run one training command and sample it: memory over time, checkpoint and progress.csv sizes.

    python docs/results/paper_preset/measure.py --out-csv maze_samples.csv --run-dir RUN_DIR -- \
        python -m distral_repro.train --preset paper --env maze ... --out RUN_DIR --threads 1

Every `--every` seconds one row: seconds since start, CPU seconds of the command (on a
shared machine the honest clock: steps per CPU second are core-hours), resident memory of the command's
process tree (MiB), checkpoint.pt size (bytes, 0 when absent), progress.csv size (bytes) and
rows. At the end one summary line (JSON) on stdout: wall time, exit code, peak RSS, the RSS
of each quarter of the run (flat means no growth), the largest checkpoint, progress.csv's
bytes per row, and summary.json's steps per second when the run finished.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import psutil


def tree_rss_mib(proc: psutil.Process) -> float:
    """Resident memory of a process and its children (MiB); 0 once it is gone."""
    total = 0
    try:
        for p in [proc, *proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                pass
    except psutil.NoSuchProcess:
        return 0.0
    return total / 2**20


def tree_cpu_s(proc: psutil.Process, seen: dict[int, float]) -> float:
    """CPU seconds (user + system) of the process tree so far; `seen` keeps children that ended."""
    try:
        for p in [proc, *proc.children(recursive=True)]:
            try:
                times = p.cpu_times()
                seen[p.pid] = times.user + times.system
            except psutil.NoSuchProcess:
                pass
    except psutil.NoSuchProcess:
        pass
    return sum(seen.values())


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def rows(path: Path) -> int:
    try:
        with path.open() as fh:
            return max(0, sum(1 for _ in fh) - 1)
    except OSError:
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-csv", required=True, type=Path)
    parser.add_argument("--run-dir", required=True, type=Path)
    parser.add_argument("--every", type=float, default=2.0)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    start = time.perf_counter()
    child = subprocess.Popen(command)
    proc = psutil.Process(child.pid)
    samples = []
    cpu: dict[int, float] = {}
    while True:
        cpu_s = tree_cpu_s(proc, cpu)
        code = child.poll()
        samples.append({
            "seconds": round(time.perf_counter() - start, 2),
            "cpu_s": round(cpu_s, 2),
            "rss_mib": round(tree_rss_mib(proc), 1) if code is None else 0.0,
            "checkpoint_bytes": file_size(args.run_dir / "checkpoint.pt"),
            "progress_bytes": file_size(args.run_dir / "progress.csv"),
            "progress_rows": rows(args.run_dir / "progress.csv"),
        })
        if code is not None:
            break
        time.sleep(args.every)
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the reaped command, exactly
    samples[-1]["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 2)
    args.out_csv.parent.mkdir(parents=True, exist_ok=True)
    with args.out_csv.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(samples[0]))
        writer.writeheader()
        writer.writerows(samples)
    live = [s for s in samples if s["rss_mib"] > 0]
    quarters = [max((s["rss_mib"] for s in live[len(live) * q // 4: len(live) * (q + 1) // 4]), default=0.0)
                for q in range(4)]
    last = samples[-1]
    summary_path = args.run_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    print(json.dumps({
        "wall_s": round(wall, 1), "cpu_s": samples[-1]["cpu_s"], "exit": code,
        "peak_rss_mib": max((s["rss_mib"] for s in live), default=0.0),
        "peak_rss_by_quarter_mib": quarters,
        "max_checkpoint_bytes": max(s["checkpoint_bytes"] for s in samples),
        "progress_rows": last["progress_rows"], "progress_bytes": last["progress_bytes"],
        "progress_bytes_per_row": round(last["progress_bytes"] / last["progress_rows"], 1) if last["progress_rows"] else None,
        "steps_per_task": summary.get("steps_per_task"), "total_env_steps": summary.get("total_env_steps"),
        "steps_per_second": summary.get("steps_per_second"),
        "steps_per_cpu_second": round(summary["total_env_steps"] / samples[-1]["cpu_s"], 1)
        if summary.get("total_env_steps") and samples[-1]["cpu_s"] else None,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
