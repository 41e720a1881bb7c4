"""Pilot 13, part 4: the whole study's wall time with the grid longer on some families only.

    python docs/results/pilots/p13_grid_budget/estimate_per_family.py HOST2_RESULTS HOST2_TIME_TXT

HOST2_RESULTS: docs/results/default_grid_host2/runs.tar.xz unpacked (its results/ directory): the
published design (grid 38.4k / 76.8k / 32k steps per task) rerun through the fork server on pilot
13's host, whose runs record their training-loop seconds; HOST2_TIME_TXT: its time.txt (wall and
user + sys of the whole `snakemake --cores all`). Model: the whole run's core-seconds are the
measured ones plus the extra training-loop seconds of the longer grid runs (a run's loop costs its
steps), at the measured share of both cores.
"""

import json
import re
import sys
from pathlib import Path

import pandas as pd

results, time_txt = Path(sys.argv[1]), Path(sys.argv[2]).read_text()
wall, user, sys_s = (float(x) for x in re.search(r"snakemake: ([\d.]+) s wall, ([\d.]+) user, ([\d.]+) sys", time_txt).groups())
core = user + sys_s
loops = pd.DataFrame([{"env": s["env"], "loop_s": s["wall_time_s"]}
                      for s in (json.loads(p.read_text()) for p in results.glob("runs/*/*/*/summary.json"))])
grid = loops.groupby("env").loop_s.sum()
print(f"measured: {wall / 60:.1f} min wall, {core:.0f} core-s ({core / wall:.2f} cores); grid loops per env (s):")
print(grid.round().to_string())
published = {"maze": 38_400, "navigation": 76_800, "lasertag": 32_000}
designs = {"published 38.4k / 76.8k / 32k": published,
           "1.25x everywhere (60k / 120k / 50k)": {"maze": 60_000, "navigation": 120_000, "lasertag": 50_000},
           "1.5x everywhere (72k / 144k / 60k)": {"maze": 72_000, "navigation": 144_000, "lasertag": 60_000},
           "1.25x maze, laser tag (60k / 76.8k / 50k)": {"maze": 60_000, "navigation": 76_800, "lasertag": 50_000},
           "1.5x maze, laser tag (72k / 76.8k / 60k)": {"maze": 72_000, "navigation": 76_800, "lasertag": 60_000}}
rows = []
for name, steps in designs.items():
    extra = sum(grid[env] * (steps[env] / published[env] - 1) for env in published)
    rows.append({"design": name, "extra loop core-s": round(extra), "wall_min": round((core + extra) / (core / wall) / 60)})
print(pd.DataFrame(rows).to_string(index=False))
