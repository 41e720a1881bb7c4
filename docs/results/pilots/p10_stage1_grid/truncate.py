"""Pilot 10: what the grid would choose at shorter stage-1 budgets.

A run with a smaller budget is the first part of a longer run of the same setting and seed
(nothing in training depends on the total budget: no schedule), so cutting each grid run's
curve at a fraction of its steps gives the run that budget would have made (evaluation
points aside). Per env x algo x (beta, lr): AUC score = mean normalised return over the
evaluation points up to the cut; final = mean over the last 10% of the cut's steps. Best
setting as in the tables (no run diverged here): the highest mean AUC score.

    python docs/results/pilots/p10_stage1_grid/truncate.py RESULTS_DIR REFERENCES OUT_DIR
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

results, references, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
refs = pd.read_csv(references).set_index(["env", "task"])
rows = []
for progress in sorted(results.glob("runs/*/*/*/progress.csv")):
    run = progress.parent
    if not (run / "summary.json").exists():
        continue
    env, algo, name = run.parts[-3], run.parts[-2], run.name
    setting, seed = name.rsplit("_seed", 1)
    beta, lr = setting[len("beta"):].split("_lr")
    p = pd.read_csv(progress)
    r = refs.loc[[(env, t) for t in p["task"]]]
    p["score"] = (p["episode_return"].to_numpy() - r["random_return"].to_numpy()) / (
        r["upper_return"].to_numpy() - r["random_return"].to_numpy())
    last = p["step"].max()
    for fraction in (1.0, 0.8, 2 / 3):
        cut = p[p["step"] <= fraction * last + 1e-9]
        steps = cut["step"].max()
        final = cut[cut["step"] > 0.9 * steps]
        rows.append({"env": env, "algo": algo, "beta": float(beta), "lr": float(lr), "seed": int(seed),
                     "fraction": round(fraction, 3), "steps": int(steps),
                     "auc_score": cut.groupby("task")["score"].mean().mean(),
                     "final_score": final.groupby("task")["score"].mean().mean()})
runs = pd.DataFrame(rows)
out.mkdir(parents=True, exist_ok=True)
runs.to_csv(out / "truncated_runs.csv", index=False)
settings = runs.groupby(["env", "algo", "fraction", "beta", "lr"]).agg(
    seeds=("seed", "size"), auc_score=("auc_score", "mean"), final_score=("final_score", "mean")).reset_index()
best = settings.loc[settings.groupby(["env", "algo", "fraction"])["auc_score"].idxmax()]
lrs = sorted(runs["lr"].unique())
best["lr_inside_grid"] = (best["lr"] > lrs[0]) & (best["lr"] < lrs[-1])
best.to_csv(out / "best_by_fraction.csv", index=False)
with pd.option_context("display.width", 200, "display.max_rows", 200):
    print(best.round(3).to_string(index=False))
    print(best.groupby("fraction")["lr_inside_grid"].mean().rename("fraction of env x algo with the best lr inside"))

# The figure: mean AUC score of each lr (best beta of that lr) per env x algo, at each cut.
envs = sorted(settings["env"].unique())
fig, axes = plt.subplots(1, len(envs), figsize=(4.2 * len(envs), 3.4), constrained_layout=True)
styles = {1.0: "-", 0.8: "--", round(2 / 3, 3): ":"}
for ax, env in zip(axes, envs):
    of_env = settings[settings["env"] == env]
    for i, algo in enumerate(sorted(of_env["algo"].unique())):
        for fraction, style in styles.items():
            rows = of_env[(of_env["algo"] == algo) & (of_env["fraction"] == fraction)]
            by_lr = rows.groupby("lr")["auc_score"].max()
            ax.plot(by_lr.index, by_lr.values, style, color=f"C{i}", marker="o", markersize=3,
                    label=algo if fraction == 1.0 else None)
    ax.set_xscale("log")
    ax.set_xticks(lrs, [f"{v:g}" for v in lrs])
    ax.set_xlabel("learning rate (best beta of each)")
    ax.set_ylabel("mean AUC score")
    ax.set_title(env)
axes[0].legend(fontsize=6)
fig.suptitle("grid runs cut at: solid 1.0, dashed 0.8, dotted 2/3 of their steps (pilot 10)")
fig.savefig(out / "auc_by_lr.png", dpi=120)
