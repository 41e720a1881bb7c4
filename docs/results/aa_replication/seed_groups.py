"""Exploratory (not a pre-registered test): maze scores near 128k env steps per task by seed group.

Seeds 2-15 (confirmation), 16-23 (A/A) and 32-39 (this replication) at the 128k budget, mean
return over 112-128k; the long-horizon study's seeds 24-31 (768k budget; no learning-rate or
entropy schedule, so its first 128k steps are the same process) over its nearest window,
115.2-134.4k. Raw returns, mean over the 8 tasks of a run.

    python docs/results/aa_replication/seed_groups.py STUDY_DIR LONG_HORIZON_RUNS [OUT.csv]

STUDY_DIR: the default study's runs and these (README.md's commands); LONG_HORIZON_RUNS:
docs/results/long_horizon/runs."""
import glob, re, sys
import numpy as np, pandas as pd
from scipy import stats

def at(progress, lo, hi):
    p = pd.read_csv(progress)
    w = p[(p.step > lo) & (p.step <= hi)]
    return w.groupby("task").episode_return.mean().mean()

rows = []
conf_root, lh_root = sys.argv[1], sys.argv[2]
for d in glob.glob(f"{conf_root}/results/confirmation/maze/*/*_seed*"):
    algo, seed = d.split("/")[-2], int(re.search(r"seed(\d+)$", d).group(1))
    rows.append(dict(algo=algo, seed=seed, source="128k budget", score=at(d + "/progress.csv", 112000, 128000)))
for d in glob.glob(f"{lh_root}/results/confirmation/maze/*/*_seed*"):
    if not glob.glob(d + "/summary.json"):
        continue
    algo, seed = d.split("/")[-2], int(re.search(r"seed(\d+)$", d).group(1))
    rows.append(dict(algo=algo, seed=seed, source="768k budget, at 115-134k", score=at(d + "/progress.csv", 115200, 134400)))
d = pd.DataFrame(rows)
d["group"] = pd.cut(d.seed, [-1, 1, 15, 23, 31, 39], labels=["0-1", "2-15", "16-23", "24-31", "32-39"])
t = d.groupby(["algo", "group"], observed=True).score.agg(["mean", "std", "count"]).round(2)
print(t.to_string())
if len(sys.argv) > 3:
    t.reset_index().to_csv(sys.argv[3], index=False)
for algo in sorted(set(d[d.group == "24-31"].algo)):
    a = d[(d.algo == algo) & (d.group == "2-15")].score
    b = d[(d.algo == algo) & (d.group == "24-31")].score
    print(algo, "2-15 minus 24-31: %.2f, Welch p %.3f" % (a.mean() - b.mean(), stats.ttest_ind(a, b, equal_var=False).pvalue))
