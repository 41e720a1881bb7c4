"""Pilot 13: the best (beta, lr) that a grid of each stage-1 budget would choose.

Each pilot run (1.5x the 48k / 40k steps per task of the earlier grid) is cut at the steps of
0.8x (the published grid), 1.0x, 1.25x and 1.5x; nothing in training depends on the total
budget, so a cut is the run that budget would have made, up to where the evaluation points
fall (40 per run here, so a cut has fewer than a grid run's 40). Per cut and env x algo x
(beta, lr): AUC score = mean normalised return over the evaluation points up to the cut;
final = mean over the last 10% of the cut's steps; the best setting is the highest mean AUC
score over seeds 0-3 (the tables' rule; no run diverged).

    python docs/results/pilots/p13_grid_budget/cut.py PILOT_DIR REFERENCES OUT_DIR
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

BASE = {"maze": 48_000, "navigation": 96_000, "lasertag": 40_000}  # the 1.0x budget, steps per task
MULTIPLES = (0.8, 1.0, 1.25, 1.5)

pilot, references, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
refs = pd.read_csv(references).set_index(["env", "task"])
rows = []
for progress in sorted(pilot.glob("runs/*/*/*/progress.csv")):
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
    for multiple in MULTIPLES:
        cut = p[p["step"] <= multiple * BASE[env] + 1e-9]
        steps = cut["step"].max()
        final = cut[cut["step"] > 0.9 * steps]
        rows.append({"env": env, "algo": algo, "beta": float(beta), "lr": float(lr), "seed": int(seed),
                     "multiple": multiple, "steps": int(steps), "points": cut["step"].nunique(),
                     "auc_score": cut.groupby("task")["score"].mean().mean(),
                     "final_score": final.groupby("task")["score"].mean().mean()})
runs = pd.DataFrame(rows)
out.mkdir(parents=True, exist_ok=True)
runs.to_csv(out / "cut_runs.csv", index=False)
settings = runs.groupby(["env", "algo", "multiple", "beta", "lr"]).agg(
    seeds=("seed", "size"), auc_score=("auc_score", "mean"), auc_sd=("auc_score", "std"),
    final_score=("final_score", "mean")).reset_index()
settings.to_csv(out / "settings.csv", index=False)
by_lr = settings.loc[settings.groupby(["env", "algo", "multiple", "lr"])["auc_score"].idxmax()]
by_lr.to_csv(out / "by_lr.csv", index=False)
best = settings.loc[settings.groupby(["env", "algo", "multiple"])["auc_score"].idxmax()].copy()
lrs = sorted(runs["lr"].unique())
best["lr_inside_grid"] = (best["lr"] > 2e-3) & (best["lr"] < 8e-3)
best.to_csv(out / "best_by_budget.csv", index=False)
with pd.option_context("display.width", 200, "display.max_rows", 200):
    print(by_lr.round(4).to_string(index=False))
    print(best.round(4).to_string(index=False))

envs = sorted(settings["env"].unique())
fig, axes = plt.subplots(1, len(envs), figsize=(4.6 * len(envs), 3.6), constrained_layout=True)
for ax, env in zip(axes, envs):
    of_env = by_lr[by_lr["env"] == env]
    for i, algo in enumerate(sorted(of_env["algo"].unique())):
        for j, multiple in enumerate(MULTIPLES):
            rows = of_env[(of_env["algo"] == algo) & (of_env["multiple"] == multiple)].sort_values("lr")
            ax.errorbar(rows["lr"] * (1 + 0.03 * (j - 1.5)), rows["auc_score"], yerr=rows["auc_sd"] / 2,
                        color=f"C{i}", alpha=0.4 + 0.2 * j, marker="o", markersize=3, capsize=2,
                        label=f"{algo} {multiple:g}x")
    ax.set_xscale("log")
    ax.set_xticks(lrs, [f"{v:g}" for v in lrs])
    ax.minorticks_off()
    ax.set_xlabel("lr (best beta of each; bars: +-1 s.e., 4 seeds)")
    ax.set_ylabel("mean AUC score")
    ax.set_title(f"{env} (1.0x = {BASE[env] // 1000}k steps per task)")
    ax.legend(fontsize=6)
fig.suptitle("pilot 13: the grid's AUC by learning rate at stage-1 budgets of 0.8x-1.5x")
fig.savefig(out / "auc_by_lr.png", dpi=120)
