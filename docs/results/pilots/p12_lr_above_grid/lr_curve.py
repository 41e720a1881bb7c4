"""Pilot 12: mean AUC score per learning rate (best beta of each), grid rates and 1.6e-2.

    python docs/results/pilots/p12_lr_above_grid/lr_curve.py GRID_RESULTS PILOT_DIR REFERENCES OUT_DIR

GRID_RESULTS: where docs/results/default_grid_0.8x/runs.tar.xz was extracted (holds runs/);
PILOT_DIR: commands.sh's output (holds runs/). Per run: AUC score = mean over tasks of the mean
normalised return over the evaluation points; final = the same over the last 10% of steps
(as the tables, which this reproduces for the grid's rates). Writes settings.csv, by_lr.csv
and lr_curve.png.
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

grid, pilot, references, out = (Path(a) for a in sys.argv[1:5])
refs = pd.read_csv(references).set_index(["env", "task"])
ENVS, ALGOS = ("maze", "lasertag"), ("A3C", "KL_1col")
rows = []
for root in (grid, pilot):
    for progress in sorted(root.glob("runs/*/*/*/progress.csv")):
        run = progress.parent
        env, algo = run.parts[-3], run.parts[-2]
        if env not in ENVS or algo not in ALGOS or not (run / "summary.json").exists():
            continue
        setting, seed = run.name.rsplit("_seed", 1)
        beta, lr = setting[len("beta"):].split("_lr")
        p = pd.read_csv(progress)
        r = refs.loc[[(env, t) for t in p["task"]]]
        p["score"] = (p["episode_return"].to_numpy() - r["random_return"].to_numpy()) / (
            r["upper_return"].to_numpy() - r["random_return"].to_numpy())
        final = p[p["step"] > 0.9 * p["step"].max()]
        rows.append({"env": env, "algo": algo, "beta": float(beta), "lr": float(lr), "seed": int(seed),
                     "auc_score": p.groupby("task")["score"].mean().mean(),
                     "final_score": final.groupby("task")["score"].mean().mean()})
runs = pd.DataFrame(rows)
settings = runs.groupby(["env", "algo", "beta", "lr"]).agg(
    seeds=("seed", "size"), auc_score=("auc_score", "mean"), auc_sd=("auc_score", "std"),
    final_score=("final_score", "mean")).reset_index()
best = settings.loc[settings.groupby(["env", "algo", "lr"])["auc_score"].idxmax()]
out.mkdir(parents=True, exist_ok=True)
settings.to_csv(out / "settings.csv", index=False)
best.to_csv(out / "by_lr.csv", index=False)
with pd.option_context("display.width", 200):
    print(best.round(4).to_string(index=False))

fig, axes = plt.subplots(1, len(ENVS), figsize=(8.4, 3.4), constrained_layout=True)
for ax, env in zip(axes, ENVS):
    for i, algo in enumerate(ALGOS):
        b = best[(best["env"] == env) & (best["algo"] == algo)].sort_values("lr")
        ax.errorbar(b["lr"], b["auc_score"], yerr=b["auc_sd"] / b["seeds"] ** 0.5, marker="o", color=f"C{i}",
                    label=algo, capsize=3)
    ax.set_xscale("log")
    lrs = sorted(best["lr"].unique())
    ax.set_xticks(lrs, [f"{v:g}" for v in lrs])
    ax.minorticks_off()
    ax.axvspan(lrs[0] * 0.9, 8e-3 * 1.1, color="0.9", zorder=0)
    ax.set_xlabel("lr (best beta of each; shaded: default grid)")
    ax.set_ylabel("mean AUC score (+- s.e. over seeds)")
    ax.set_title(env)
axes[0].legend()
fig.suptitle("pilot 12: per-task-network algorithms above the grid's top rate (grid budgets, seeds 0-3)")
fig.savefig(out / "lr_curve.png", dpi=120)
