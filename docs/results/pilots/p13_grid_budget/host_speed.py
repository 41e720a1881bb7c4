"""Pilot 13, part 2: training-loop seconds of the same runs on this host and on the published study's.

    python docs/results/pilots/p13_grid_budget/host_speed.py HOST_RUNS PUBLISHED_RUNS OUT_CSV

HOST_RUNS: the directory host_speed.sh wrote; PUBLISHED_RUNS: docs/results/default_grid_0.8x/runs.tar.xz
unpacked (its results/ directory). Each run of HOST_RUNS is compared with the published run of the
same env, algo, setting and seed (`wall_time_s` of summary.json: the training loop); `job_core_s`
is the whole job here (user + sys, start-up included; run_pilot.sh's time.txt).
"""

import json
import sys
from pathlib import Path

import pandas as pd

host, published, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
rows = []
for summary in sorted(host.glob("runs/*/*/*/summary.json")):
    run = summary.parent
    env, algo, name = run.parts[-3], run.parts[-2], run.name
    here = json.loads(summary.read_text())
    there = json.loads((published / "runs" / env / algo / name / "summary.json").read_text())
    user, sys_s = (float(v) for v in (run / "time.txt").read_text().split())
    rows.append({"env": env, "algo": algo, "run": name, "loop_s_here": here["wall_time_s"],
                 "loop_s_published": there["wall_time_s"], "ratio": here["wall_time_s"] / there["wall_time_s"],
                 "job_core_s_here": user + sys_s,
                 "same_final_return": here["mean_final_return"] == there["mean_final_return"]})
table = pd.DataFrame(rows)
table.to_csv(out, index=False)
print(table.round(2).to_string(index=False))
print(f"sum of loops: here {table.loop_s_here.sum():.0f} s, published {table.loop_s_published.sum():.0f} s, "
      f"ratio {table.loop_s_here.sum() / table.loop_s_published.sum():.2f}; whole jobs here {table.job_core_s_here.sum():.0f} "
      f"core-s, start-up and the rest {(table.job_core_s_here - table.loop_s_here).mean():.1f} s a job; "
      f"identical final returns: {table.same_final_return.sum()} of {len(table)}")
