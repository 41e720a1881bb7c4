"""Core-hours of the paper preset from the measurements in this folder (docs/slurm.md).

    python docs/results/paper_preset/cost.py > docs/results/paper_preset/cost.md

Reads `{env}_measure.json` (measure.py on a lengthened paper-preset KL+ent_2col job, one core)
and, for maze, `maze_short_measure.json` (the same job at its shortest): both maze runs make
the same 20 pi_0 evaluations, so their difference is training alone. Navigation and laser tag
make none; their whole CPU time (start-up included) is counted as training, which overstates
their cost slightly. A full job's env steps come from the preset's budget (config.BUDGETS);
the grid's cost from each algorithm's cost relative to KL+ent_2col, measured on the default
preset (docs/speed.md, "Training" table), as the upper bound 7 x KL+ent_2col.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from distral_repro.config import BUDGETS
from distral_repro.envs import NUM_TASKS

HERE = Path(__file__).parent
ENVS = ("maze", "navigation", "lasertag")
SETTINGS_PER_ALGO = 36  # 3 beta x 3 lr x 4 seeds
#: env steps per second of each algorithm on one core, default preset, maze (docs/speed.md's
#: Training table): only their ratios to KL+ent_2col are used.
DEFAULT_PRESET_STEPS_PER_S = {
    "A3C": 52_010, "A3C_multitask": 56_582, "A3C_2col": 32_586, "KL_1col": 31_201,
    "KL+ent_1col": 31_268, "KL_2col": 25_647, "KL+ent_2col": 24_156,
}
#: Margins: wall time over measured CPU time (a busy or slower node), memory over the peak.
TIME_MARGIN = 1.5
MEM_MARGIN = 1.5
#: Resident memory of the two Snakemake processes inside every Slurm job (the batch step and
#: the job step that runs the command), seen with ps on the local Slurm: about 176 MiB each.
SNAKEMAKE_IN_JOB_MIB = 2 * 176


def training_rate(env: str) -> tuple[float, float]:
    """(env steps per CPU second of training, fixed CPU seconds per job) for one env."""
    long = json.loads((HERE / f"{env}_measure.json").read_text())
    if env != "maze":
        return long["total_env_steps"] / long["cpu_s"], 0.0
    short = json.loads((HERE / "maze_short_measure.json").read_text())
    rate = (long["total_env_steps"] - short["total_env_steps"]) / (long["cpu_s"] - short["cpu_s"])
    return rate, long["cpu_s"] - long["total_env_steps"] / rate


def grid_factor() -> float:
    """Cost of one (beta, lr, seed) setting of all seven algorithms in KL+ent_2col jobs."""
    reference = DEFAULT_PRESET_STEPS_PER_S["KL+ent_2col"]
    return sum(reference / rate for rate in DEFAULT_PRESET_STEPS_PER_S.values())


def main() -> None:
    factor = grid_factor()
    print("| family | env steps per job | training steps / CPU s | fixed CPU s | core-hours per job "
          "(KL+ent_2col) | peak RSS MiB | checkpoint MiB | progress.csv per job | grid core-hours (7 algos x 36) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    total, total_upper, peaks, hours = 0.0, 0.0, [], []
    for env in ENVS:
        measured = json.loads((HERE / f"{env}_measure.json").read_text())
        budget = BUDGETS["paper"][env]
        steps = budget.steps_per_task * NUM_TASKS[env]
        rate, fixed = training_rate(env)
        job_h = (steps / rate + fixed) / 3600
        rows = budget.log_points * NUM_TASKS[env]
        progress_kib = rows * measured["progress_bytes_per_row"] / 1024
        grid_h = SETTINGS_PER_ALGO * factor * job_h
        total += grid_h
        total_upper += SETTINGS_PER_ALGO * 7 * job_h
        peaks.append(measured["peak_rss_mib"])
        hours.append(job_h)
        print(f"| {env} | {steps:.3g} | {rate:,.0f} | {fixed:.0f} | {job_h:.2f} | {measured['peak_rss_mib']:.0f} | "
              f"{measured['max_checkpoint_bytes'] / 2**20:.1f} | {rows} rows, {progress_kib:.0f} KiB | {grid_h:,.0f} |")
    print()
    print(f"Whole paper grid (756 jobs): about {total:,.0f} core-hours with each algorithm at its measured cost "
          f"relative to KL+ent_2col (factor {factor:.2f} of 7), at most {total_upper:,.0f} if every job cost as "
          "much as KL+ent_2col; the grid world adds minutes.")
    runtime_min = math.ceil(max(hours) * 60 * TIME_MARGIN)
    mem = math.ceil((max(peaks) + SNAKEMAKE_IN_JOB_MIB) * MEM_MARGIN / 100) * 100
    print(f"Longest job {max(hours):.2f} h of one core; x {TIME_MARGIN} margin: total_minutes {runtime_min}. "
          f"Memory: peak {max(peaks):.0f} MiB + {SNAKEMAKE_IN_JOB_MIB} MiB of Snakemake in the job, x {MEM_MARGIN}: "
          f"mem_mb {mem}.")


if __name__ == "__main__":
    main()
