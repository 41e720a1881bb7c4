"""The same default study on two hosts: how far its numbers and verdicts move.

    python docs/results/default_grid/compare.py docs/results/default_grid OTHER_PUBLISHED_STUDY

Both folders as `publish.sh` writes them. Prints (and writes compare.md into the second): each
claim's verdict on both, the best grid setting of each env x algorithm on both, the final score
of the confirmation runs on both, and how the grid's 189 settings' mean AUC scores agree
(correlation, mean absolute difference, against the seed-to-seed spread within a setting).
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd

first, second = Path(sys.argv[1]), Path(sys.argv[2])
lines = [f"# {first.name} vs {second.name}", ""]

claims = pd.read_csv(first / "claims.csv").set_index("claim")[["verdict"]].join(
    pd.read_csv(second / "claims.csv").set_index("claim")[["verdict"]], lsuffix=f" {first.name}", rsuffix=f" {second.name}")
lines += ["## Verdicts", "", claims.to_markdown(), ""]

sel = []
for env in ("maze", "navigation", "lasertag"):
    a = pd.read_csv(first / "selection" / f"{env}.csv").set_index("algo")["setting"]
    b = pd.read_csv(second / "selection" / f"{env}.csv").set_index("algo")["setting"]
    sel.append(pd.DataFrame({"env": env, first.name: a, second.name: b}))
sel = pd.concat(sel).reset_index()
sel["same"] = sel[first.name] == sel[second.name]
lines += ["## Best grid setting (the confirmation runs' setting)", "", sel.to_markdown(index=False),
          "", f"{int(sel['same'].sum())} of {len(sel)} the same.", ""]

conf = pd.read_csv(first / "tables" / "confirmation.csv").set_index(["env", "algo"])[["final_score"]].join(
    pd.read_csv(second / "tables" / "confirmation.csv").set_index(["env", "algo"])[["final_score"]],
    lsuffix=f" {first.name}", rsuffix=f" {second.name}")
conf["difference"] = conf.iloc[:, 1] - conf.iloc[:, 0]
lines += ["## Final score of the confirmation runs (mean over seeds x tasks)", "", conf.round(3).to_markdown(),
          "", f"mean absolute difference {conf['difference'].abs().mean():.3f}", ""]

runs = [pd.read_csv(d / "tables" / "all_runs.csv") for d in (first, second)]
keys = ["env", "algo", "beta", "lr"]
means = [r.groupby(keys)["auc_score"].mean() for r in runs]
spread = runs[0].groupby(keys)["auc_score"].std().mean()
joined = pd.concat(means, axis=1, keys=[first.name, second.name]).dropna()
r = np.corrcoef(joined.iloc[:, 0], joined.iloc[:, 1])[0, 1]
mad = (joined.iloc[:, 0] - joined.iloc[:, 1]).abs().mean()
lines += ["## The grid's settings (mean AUC score over 4 seeds)", "",
          f"{len(joined)} settings: correlation {r:.3f}, mean absolute difference {mad:.4f}; the standard "
          f"deviation over seeds within a setting averages {spread:.4f} ({first.name}), so a 4-seed mean's "
          f"standard error about {spread / 2:.4f}.", ""]
text = "\n".join(lines)
print(text)
(second / "compare.md").write_text(text)
