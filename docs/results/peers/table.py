"""The peer check's table from the runs in runs/ (README.md of this folder).

    python docs/results/peers/table.py      # writes results.csv and table.md beside this file

Per run: the first env step at which the mean episode return of an evaluation window reaches
0.9 (MiniGrid's return is 1 - 0.9 t / max_steps; "solved"), the final return (mean over the
last 10% of steps) and the CPU seconds. The package's runs log a window every 1,920 env steps
(6 updates of 16 workers x 20 steps); SB3's episodes are binned into the same 1,920-step
windows by the step at which they ended, so both are read alike.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
WINDOW = 1920
SOLVED = 0.9
NAME = re.compile(r"^(?P<learner>[a-z0-9_]+?)_(?P<task>doorkey|lavagap|emptyrandom)_seed(?P<seed>\d+)$")


def curve_of(path: Path) -> pd.DataFrame:
    """(step, episode_return) per evaluation window of one run (package run dir or SB3 csv)."""
    if path.is_dir():
        progress = pd.read_csv(path / "progress.csv")
        return progress[["step", "episode_return"]]
    episodes = pd.read_csv(path)
    window = ((episodes["step"] + WINDOW - 1) // WINDOW) * WINDOW
    return episodes.groupby(window)["episode_return"].mean().rename_axis("step").reset_index()


def summarise(curve: pd.DataFrame) -> dict:
    reached = curve[curve["episode_return"] >= SOLVED]
    last = curve["step"].max()
    late = curve[curve["step"] >= 0.9 * last]["episode_return"]
    return {
        "step_to_0.9": int(reached["step"].iloc[0]) if len(reached) else math.nan,
        "final": float(late.mean()),
        "best": float(curve["episode_return"].max()),
        "steps": int(last),
    }


def cpu_seconds(path: Path) -> float:
    timing = Path(str(path).removesuffix(".csv") + ".time")
    if not timing.exists():
        return math.nan
    user, system = timing.read_text().split()[-2:]
    return float(user) + float(system)


def main() -> None:
    rows = []
    for path in sorted((HERE / "runs").iterdir()):
        stem = path.name.removesuffix(".csv")
        match = NAME.match(stem)
        if not match or path.suffix == ".time" or (path.is_dir() and not (path / "summary.json").exists()):
            continue
        row = {**match.groupdict(), **summarise(curve_of(path)), "cpu_seconds": cpu_seconds(path)}
        if path.is_dir():
            hyper = json.loads((path / "summary.json").read_text())["config"]["hyper"]
            row.update({k: hyper[k] for k in ("torso", "init", "rmsprop_square_start", "entropy_form")})
        rows.append(row)
    table = pd.DataFrame(rows)
    table["seed"] = table["seed"].astype(int)
    table = table.sort_values(["task", "learner", "seed"])
    table.to_csv(HERE / "results.csv", index=False)
    lines = ["| task | learner | seeds solved (mean return >= 0.9) | steps to 0.9 per seed | finals | CPU s per run |",
             "|---|---|---|---|---|---|"]
    for (task, learner), group in table.groupby(["task", "learner"], sort=False):
        steps = " / ".join("never" if math.isnan(s) else f"{s / 1000:.0f}k" for s in group["step_to_0.9"])
        finals = " / ".join(f"{f:.2f}" for f in group["final"])
        solved = int(group["step_to_0.9"].notna().sum())
        lines.append(f"| {task} | {learner} | {solved} of {len(group)} | {steps} | {finals} | "
                     f"{group['cpu_seconds'].mean():.0f} |")
    (HERE / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
