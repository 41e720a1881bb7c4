import sys, json, glob
import numpy as np, pandas as pd
from distral_repro.analysis.horizons import last_quarter_gain, flattened
study = sys.argv[1]
refs = pd.read_csv(f"{study}/reference_scores.csv")
rows = []
for env in ["maze", "navigation", "lasertag"]:
    ref = refs[refs.env == env].sort_values("task")
    lo, up = ref.random_return.to_numpy(), ref.upper_return.to_numpy()
    for algo_dir in sorted(glob.glob(f"{study}/results/confirmation/{env}/*")):
        curves, steps = [], None
        for run in sorted(glob.glob(algo_dir + "/*/progress.csv")):
            p = pd.read_csv(run).dropna(subset=["episode_return"])
            c = p.pivot_table(index="step", columns="task", values="episode_return").sort_index()
            steps = c.index.to_numpy(float)
            curves.append(((c.to_numpy() - lo) / (up - lo)).mean(axis=1))
        g = last_quarter_gain(steps, np.stack(curves))
        rows.append(dict(env=env, algo=algo_dir.split("/")[-1], steps_per_task=int(steps[-1]), runs=len(curves),
                         mean_gain_last_quarter=round(g.mean(), 3), flattened=flattened(g)))
print(pd.DataFrame(rows).to_csv(index=False))
