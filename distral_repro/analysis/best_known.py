"""Best-known returns: an upper reference where learned policies beat the scripted one.

    python -m distral_repro.analysis.best_known --references results/reference_scores.csv \
        --out distral_repro/best_known_returns.csv STUDY_DIR [STUDY_DIR ...]

Each STUDY_DIR holds a study's `results/confirmation/ENV/ALGO/SETTING_seedN/` runs (each at
its algorithm's best setting). Per (env, task), the best single confirmation run's final
return is compared with the scripted reference; a task on which it exceeds the scripted policy
by more than MARGIN of the scripted-minus-random gap gets it as its documented best-known
return (`reference.py` then uses it as the task's upper reference, upper_source
``best_known``), so that no stored confirmation run scores above 1 + MARGIN on any task.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from distral_repro.analysis.runs import RunFileError, load_runs
from distral_repro.runio import atomic_write_csv

#: A learned policy may exceed the upper reference by at most this fraction of the gap.
MARGIN = 0.10
COLUMNS = ("env", "preset", "task", "best_known_return", "scripted_return", "study", "algo", "beta", "lr", "seed",
           "runs")


def best_single_runs(finals: pd.DataFrame) -> pd.DataFrame:
    """Per (env, preset, task): the run (study, algo, beta, lr, seed) with the highest final
    return, and how many runs were compared (`runs`).

    `finals`: one row per (run, task) with env, preset, task, study, algo, beta, lr, seed, final.
    """
    keys = ["env", "preset", "task"]
    ordered = finals.sort_values([*keys, "study", "algo", "beta", "lr", "seed"], kind="stable").reset_index(drop=True)
    best = ordered.loc[ordered.groupby(keys, sort=True)["final"].idxmax()].reset_index(drop=True)
    best["runs"] = ordered.groupby(keys, sort=True).size().to_numpy()
    return best.rename(columns={"final": "best_known_return"})


def exceeding(best: pd.DataFrame, references: pd.DataFrame, margin: float = MARGIN) -> pd.DataFrame:
    """The rows of `best` whose return is above scripted + margin * (scripted - random)."""
    refs = references[["env", "preset", "task", "random_return", "upper_return"]]
    both = best.merge(refs, on=["env", "preset", "task"], how="inner")
    limit = both["upper_return"] + margin * (both["upper_return"] - both["random_return"])
    out = both[both["best_known_return"] > limit].rename(columns={"upper_return": "scripted_return"})
    return out[list(COLUMNS)].reset_index(drop=True)


def confirmation_finals(study_dirs: list[Path]) -> pd.DataFrame:
    rows = []
    for study in study_dirs:
        run_dirs = sorted(p.parent for p in study.glob("results/confirmation/*/*/*/summary.json"))
        if not run_dirs:
            raise ValueError(f"{study}: no results/confirmation/ENV/ALGO/RUN/summary.json")
        for run in load_runs(run_dirs):
            for task, final in zip(run.tasks, run.final_return):
                rows.append({"env": run.env, "preset": run.preset, "task": task, "study": study.name, "algo": run.algo,
                             "beta": run.beta, "lr": run.lr, "seed": run.seed, "final": float(final)})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distral_repro.analysis.best_known", description=__doc__.split("\n\n")[0])
    parser.add_argument("studies", nargs="+", type=Path, help="study directories (each with results/confirmation/)")
    parser.add_argument("--references", required=True, type=Path, help="reference_scores.csv of the scripted player")
    parser.add_argument("--out", required=True, type=Path, help="CSV to write")
    args = parser.parse_args(argv)
    try:
        if not args.references.is_file():
            raise ValueError(f"{args.references} is not a file")
        finals = confirmation_finals(args.studies)
        table = exceeding(best_single_runs(finals.dropna(subset=["final"])), pd.read_csv(args.references))
    except (ValueError, RunFileError) as err:
        print(f"distral_repro.analysis.best_known: error: {err}", file=sys.stderr)
        return 2
    atomic_write_csv(args.out, table)
    print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
