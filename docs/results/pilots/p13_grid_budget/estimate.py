"""Pilot 13, part 3: the whole default study's wall time under other grid designs, on two hosts.

    python docs/results/pilots/p13_grid_budget/estimate.py PUBLISHED_RESULTS HOST_SPEED_CSV BENCH_JOBS_JSON

PUBLISHED_RESULTS: docs/results/default_grid_0.8x/runs.tar.xz unpacked (its results/ directory), whose
runs record their training-loop seconds (`wall_time_s`) on the host of the published study, where
the whole `snakemake --cores all` took 76 min 55 s. HOST_SPEED_CSV: host_speed.py's table (the
same 21 grid runs here). Model, two cores busy throughout: wall = (sum over jobs of loop seconds +
start-up per job + the rest of the workflow) / 2, the rest fitted so that the model gives the
published 76 min 55 s there; a run's loop costs its steps (a longer grid run is a linear extension).
BENCH_JOBS_JSON: `python -m distral_repro.bench jobs --json` here (docs/results/bench_jobs/jobs.json):
the core-seconds per job the fork server saves, taken off each job's start-up (at least 0 left).
"""

import json
import sys
from pathlib import Path

import pandas as pd

published, host_speed = Path(sys.argv[1]), pd.read_csv(sys.argv[2])
bench = {r["way"]: r for r in json.loads(Path(sys.argv[3]).read_text())["results"]}
saving_here = bench["direct"]["core_s_per_job"] - bench["fork server"]["core_s_per_job"]
PUBLISHED_WALL_S = 76 * 60 + 55
loops = []
for stage in ("runs", "confirmation"):
    for summary in published.glob(f"{stage}/*/*/*/summary.json"):
        s = json.loads(summary.read_text())
        loops.append({"stage": stage, "env": s["env"], "algo": s["algo"], "loop_s": s["wall_time_s"]})
loops = pd.DataFrame(loops)
ratio = host_speed.set_index(["env", "algo"])["ratio"]
loops["loop_s_here"] = [r.loop_s * ratio[(r.env, r.algo)] for r in loops.itertuples()]
startup_here = (host_speed.job_core_s_here - host_speed.loop_s_here).mean()
overall = host_speed.loop_s_here.sum() / host_speed.loop_s_published.sum()
hosts = {"published study's host": ("loop_s", startup_here / overall, saving_here / overall),
         "this host": ("loop_s_here", startup_here, saving_here)}
n = loops.groupby("stage").size()
rest = None
rows = []
for host, (column, startup, saving) in hosts.items():
    grid, confirmation = (loops.loc[loops.stage == s, column].sum() for s in ("runs", "confirmation"))
    if rest is None:  # fitted on the published host
        rest = 2 * PUBLISHED_WALL_S - (grid + confirmation + startup * (n["runs"] + n["confirmation"]))
    designs = {"published: 3 lrs, grid 0.8x (38.4k / 76.8k / 32k)": (1.0, 1.0),
               "3 lrs, grid 1.0x (48k / 96k / 40k)": (1.0, 1.25), "3 lrs, grid 1.25x": (1.0, 1.5625),
               "3 lrs, grid 1.5x": (1.0, 1.875), "4 lrs (+1.6e-2), grid 0.8x": (4 / 3, 1.0)}
    for design, (jobs, steps) in designs.items():
        for served in (False, True):
            grid_jobs = n["runs"] * jobs
            per_job = max(0.0, startup - saving) if served else startup
            core_s = grid * jobs * steps + confirmation + rest + per_job * (grid_jobs + n["confirmation"])
            rows.append({"host": host, "design": design, "jobs": "fork server" if served else "direct",
                         "start-up per job": f"{per_job:.1f} s", "grid jobs": int(grid_jobs),
                         "wall_min": round(core_s / 2 / 60)})
table = pd.DataFrame(rows)
print(f"loops here / published: {overall:.2f}; start-up here {startup_here:.1f} s a job, {saving_here:.2f} saved by the "
      f"fork server; rest of the workflow {rest:.0f} core-s")
print(table.to_string(index=False))
