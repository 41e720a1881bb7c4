"""What the selection loses with 2 grid seeds instead of 4 (issue 30: the grid gives way first).

    python docs/results/power_design/grid_seeds.py STUDY_DIR ... > docs/results/power_design/grid_seeds.md

STUDY_DIR: the four stored studies unpacked (docs/results/*/runs.tar.xz, as for
`python -m distral_repro.analysis.select_replay`). For each study, environment and algorithm,
the selection rule of the workflow (fewest diverged runs, then the best mean score over the
last quarter of the grid's curve) picks a (beta, lr) from the grid runs of seeds {0,1,2,3}, of
seeds {0,1} and of seeds {2,3}. Reported: how often the 2-seed pick equals the 4-seed pick, and
the confirmation final score (pooled over the four studies' confirmation runs of that setting)
of the picks that were confirmed somewhere.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from distral_repro.analysis.select_replay import load_stage, rank_settings

SUBSETS = {"seeds 0-3": (0, 1, 2, 3), "seeds 0-1": (0, 1), "seeds 2-3": (2, 3)}


def main(studies: list[Path]) -> None:
    grid = pd.concat([load_stage(s, "runs") for s in studies], ignore_index=True)
    confirmation = pd.concat([load_stage(s, "confirmation") for s in studies], ignore_index=True)
    confirmed = confirmation.groupby(["env", "algo", "beta", "lr"])["final"].mean()
    rows = []
    for (study, env, algo), runs in grid.groupby(["study", "env", "algo"]):
        for name, seeds in SUBSETS.items():
            best = rank_settings(runs[runs["seed"].isin(seeds)], "last_quarter").iloc[0]
            rows.append({"study": study, "env": env, "algo": algo, "subset": name, "beta": best["beta"],
                         "lr": best["lr"], "final": confirmed.get((env, algo, best["beta"], best["lr"]), np.nan)})
    picks = pd.DataFrame(rows)
    full = picks[picks["subset"] == "seeds 0-3"].set_index(["study", "env", "algo"])[["beta", "lr"]]
    print("| grid seeds | picks | same pick as with 4 seeds | picks confirmed somewhere | their mean confirmation final | worst |")
    print("|---|---|---|---|---|---|")
    for name in SUBSETS:
        p = picks[picks["subset"] == name].set_index(["study", "env", "algo"])
        same = ((p["beta"] == full["beta"]) & (p["lr"] == full["lr"])).mean()
        covered = p["final"].notna()
        print(f"| {name} | {len(p)} | {same:.0%} | {int(covered.sum())} | {p['final'][covered].mean():.3f} | "
              f"{p['final'][covered].min():.3f} |")
    both = picks[picks["subset"] != "seeds 2-3"].pivot_table(index=["study", "env", "algo"], columns="subset",
                                                             values="final").dropna()
    print(f"\nOn the {len(both)} cases where both the 4-seed and the seeds-0-1 pick were confirmed: mean final "
          f"{both['seeds 0-3'].mean():.3f} (4 seeds) vs {both['seeds 0-1'].mean():.3f} (2 seeds); "
          f"the 2-seed pick lower by more than 0.05 in {(both['seeds 0-3'] - both['seeds 0-1'] > 0.05).sum()}.")


if __name__ == "__main__":
    main([Path(p) for p in sys.argv[1:]])
