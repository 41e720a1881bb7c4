"""`python -m distral_repro.analysis.pilots`: one figure and one table of a set of pilot runs.

    python -m distral_repro.analysis.pilots --references results/reference_scores.csv \
        --out docs/results/pilots/p01/curves.png LABEL=RUN_DIR [LABEL=RUN_DIR ...]

Pilots are single training runs made to calibrate the default preset (docs/deviations.md,
"Deviations from the paper"). For each run: its normalised-score curve (mean over tasks; 0 = random,
1 = scripted policy) against env steps per task and against core-seconds, and a table row
(`summary.csv` beside the figure): final and AUC score, the first step at which the curve
reaches TARGET, and the core-seconds of the whole job (user + sys from a `time.txt` that
`/usr/bin/time -f "%U %S" -o RUN_DIR/time.txt` wrote, start-up included), when present.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from distral_repro.analysis.runs import RunFileError, load_run  # noqa: E402
from distral_repro.analysis.scores import MissingReferenceError, References  # noqa: E402
from distral_repro.analysis.tables import common_curves, normalise_curves  # noqa: E402
from distral_repro.runio import atomic_write_csv  # noqa: E402

#: The score a pilot's curve is timed to (issue: "core-seconds to reach 0.3 normalised").
TARGET = 0.3


def core_seconds(run_dir: Path) -> float:
    """user + sys seconds from RUN_DIR/time.txt ("USER SYS"), NaN without it."""
    path = run_dir / "time.txt"
    if not path.is_file():
        return float("nan")
    user, system = path.read_text().split()[-2:]
    return float(user) + float(system)


def first_step_at(steps: np.ndarray, curve: np.ndarray, target: float) -> float:
    """The first step at which `curve` reaches `target` (NaN if it never does)."""
    reached = np.flatnonzero(curve >= target)
    return float(steps[reached[0]]) if reached.size else float("nan")


def pilot_rows(labelled: list[tuple[str, Path]], references: References) -> tuple[pd.DataFrame, dict]:
    rows, curves = [], {}
    for label, run_dir in labelled:
        run = load_run(run_dir)
        refs = references.check(run.env, run.tasks, run.preset)
        steps, values = common_curves([run.progress], refs.tasks)
        curve = normalise_curves(values, refs)[0].mean(axis=0)  # mean over tasks, (steps,)
        seconds = core_seconds(Path(run_dir))
        curves[label] = (steps, curve, seconds, float(steps[-1]))
        rows.append({
            "label": label, "env": run.env, "algo": run.algo, "beta": run.beta, "lr": run.lr, "seed": run.seed,
            "status": run.status,
            "final_score": float(np.mean(refs.normalise(run.final_return))),
            "auc_score": float(np.mean(refs.normalise(run.auc_return))),
            f"step_to_{TARGET:g}": first_step_at(steps, curve, TARGET),
            "steps_per_task": float(steps[-1]),
            "core_seconds": seconds,
            f"core_seconds_to_{TARGET:g}": seconds * first_step_at(steps, curve, TARGET) / float(steps[-1]),
            "run_dir": str(run_dir),
        })
    return pd.DataFrame(rows), curves


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distral_repro.analysis.pilots", description=__doc__.split("\n\n")[0])
    parser.add_argument("--references", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="figure (.png); summary.csv is written beside it")
    parser.add_argument("--title", default="")
    parser.add_argument("runs", nargs="+", metavar="LABEL=RUN_DIR")
    args = parser.parse_args(argv)
    labelled = []
    for item in args.runs:
        label, sep, path = item.partition("=")
        if not sep:
            parser.error(f"expected LABEL=RUN_DIR, got {item!r}")
        labelled.append((label, Path(path)))
    try:
        table, curves = pilot_rows(labelled, References.load(args.references))
    except (RunFileError, MissingReferenceError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    fig, (by_steps, by_time) = plt.subplots(1, 2, figsize=(9, 3.4), constrained_layout=True)
    for label, (steps, curve, seconds, last) in curves.items():
        by_steps.plot(steps, curve, label=label, linewidth=1.2)
        if np.isfinite(seconds):
            by_time.plot(steps / last * seconds, curve, label=label, linewidth=1.2)
    for ax, xlabel in ((by_steps, "env steps per task"), (by_time, "core-seconds (whole job, pro rata)")):
        ax.axhline(TARGET, color="0.5", linestyle=":", linewidth=0.8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("normalised score (mean over tasks)")
        ax.grid(alpha=0.3)
    by_steps.legend(fontsize=6)
    fig.suptitle(args.title or str(args.out.parent.name), fontsize=9)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=130)
    atomic_write_csv(args.out.with_name("summary.csv"), table)
    print(table.drop(columns=["run_dir"]).to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
