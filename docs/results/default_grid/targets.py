"""Issue 13's calibration targets, checked on a finished two-stage study.

For the runs behind the learning-curve figures (each env x algorithm at its best setting,
the confirmation runs' 4 seeds), at their end:
  T1  separate A3C's mean final score >= 0.3 on every family;
  T2  at least one algorithm's mean final score below 0.9 on every family (room to tell them apart);
  T3  the best learning rate (grid, the selection rule) of A3C and of the best Distral variant
      strictly inside the grid's learning rates, on every family. The best Distral variant is
      the one with the highest mean AUC score at its best grid setting (the rule that picks
      settings); the one with the best confirmation final score is named too.

    python docs/results/default_grid/targets.py TABLES_DIR [OUT_CSV]

TABLES_DIR holds best_settings.csv, settings.csv and confirmation.csv (results/tables/ or
the published docs/results/default_grid/tables/). Prints one line per check and writes them
as CSV (env, target, subject, value, threshold, met).
"""

import sys
from pathlib import Path

import pandas as pd

from distral_repro.analysis.tables import DISTRAL_ALGORITHMS as DISTRAL

ENVS = ("maze", "navigation", "lasertag")

tables = Path(sys.argv[1])
out = Path(sys.argv[2]) if len(sys.argv) > 2 else None
best = pd.read_csv(tables / "best_settings.csv").set_index(["env", "algo"])
confirmation = pd.read_csv(tables / "confirmation.csv").set_index(["env", "algo"])
lrs = sorted(pd.read_csv(tables / "settings.csv")["lr"].unique())

rows = []
for env in ENVS:
    final = confirmation.loc[env, "final_score"]
    low = confirmation.loc[env, "final_score_ci_low"]
    rows.append({"env": env, "target": "T1 A3C final >= 0.3", "subject": "A3C",
                 "value": round(final["A3C"], 3), "threshold": 0.3, "met": final["A3C"] >= 0.3,
                 "note": f"95% CI low {low['A3C']:.3f}"})
    lowest = final.idxmin()
    rows.append({"env": env, "target": "T2 some algorithm final < 0.9", "subject": lowest,
                 "value": round(final[lowest], 3), "threshold": 0.9, "met": final[lowest] < 0.9,
                 "note": f"highest {final.idxmax()} {final.max():.3f}"})
    of_env = best.loc[env]
    distral_auc = of_env.loc[list(DISTRAL), "auc_score"]
    best_distral = distral_auc.idxmax()
    by_final = final[list(DISTRAL)].idxmax()
    for algo in ("A3C", best_distral):
        lr = of_env.loc[algo, "lr"]
        inside = lrs[0] < lr < lrs[-1]
        note = f"grid lrs {', '.join(f'{v:g}' for v in lrs)}; beta {of_env.loc[algo, 'beta']:g}"
        if algo == best_distral:
            note += f"; best Distral by confirmation final: {by_final} (lr {of_env.loc[by_final, 'lr']:g})"
        rows.append({"env": env, "target": "T3 best lr strictly inside the grid", "subject": algo,
                     "value": lr, "threshold": None, "met": inside, "note": note})

result = pd.DataFrame(rows)
with pd.option_context("display.width", 220, "display.max_colwidth", 120):
    print(result.to_string(index=False))
print(f"met {int(result['met'].sum())} of {len(result)} checks")
if out is not None:
    result.to_csv(out, index=False)
