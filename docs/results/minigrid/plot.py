"""Learning curves and steps to solve of the runs in this folder (docs/families.md, "Your own task families").

    python docs/results/minigrid/plot.py      # reads */progress.csv here, writes learning_curves.png, steps_to_solve.csv
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent
SOLVED = 0.9  # MiniGrid's return 1 - 0.9 t / max_steps: 0.9 means the goal within 11% of max_steps


def main() -> None:
    ids = yaml.safe_load((HERE / "family.yaml").read_text())["families"]["minigrid4"]["env_ids"]
    names = [i.split(":")[-1].removeprefix("MiniGrid-").removesuffix("-v0") for i in ids]
    runs = {p.parent.name: pd.read_csv(p) for p in sorted(HERE.glob("*/progress.csv"))}
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), sharey=True)
    rows = []
    for algo, progress in runs.items():
        for task, (ax, name) in enumerate(zip(axes, names)):
            curve = progress[progress["task"] == task]
            ax.plot(curve["step"], curve["episode_return"], label=algo)
            ax.set_title(name)
            ax.set_xlabel("env steps per task")
            reached = curve[curve["episode_return"] >= SOLVED]
            late = curve[curve["step"] >= 0.9 * curve["step"].max()]
            rows.append({
                "algo": algo, "task": task, "env_id": ids[task],
                "first_step_at_or_above_0.9": int(reached["step"].iloc[0]) if len(reached) else None,
                "final_return": round(float(late["episode_return"].mean()), 3),
                "best_return": round(float(curve["episode_return"].max()), 3),
            })
    axes[0].set_ylabel("mean episode return")
    axes[0].legend()
    for ax in axes:
        ax.axhline(SOLVED, color="grey", lw=0.5, ls=":")
    fig.tight_layout()
    fig.savefig(HERE / "learning_curves.png", dpi=110)
    pd.DataFrame(rows).to_csv(HERE / "steps_to_solve.csv", index=False)
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
