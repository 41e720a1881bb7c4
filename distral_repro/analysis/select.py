"""`python -m distral_repro.analysis.select`: the grid's best setting of every algorithm of one env.

    python -m distral_repro.analysis.select --env maze --references results/reference_scores.csv \
        --out results/selection/maze.csv RUN_DIR ...

The first stage of the study (the grid) picks, per env x algorithm, the (beta, lr) that the
second stage (the confirmation runs: fresh seeds, a longer budget) reruns. The rule is
`best_setting`'s, the one the tables, figures and claims use for "the best setting"
(`tables.Study` applies it; this CLI writes what it chose): the setting with the fewest
diverged runs, then the highest mean score over the last quarter of the grid's curve
(`late_score`, over its seeds and tasks). Replayed on the four stored
studies (`python -m distral_repro.analysis.select_replay`, docs/study_design.md) it picks
settings that confirm as well as the earlier rule (the highest mean AUC, which rewards
early learning and so penalises slow learners) with a third of its spread across studies
and no pick below 0.38. The CSV has one row per algorithm: env, algo, the setting's
run-directory stem (`setting`, e.g. beta1000_lr4e-3, spelt as in the grid's directories),
beta, lr, runs, diverged, the late score that chose it and the mean AUC and final scores; the workflow's
checkpoint reads it to know which confirmation runs exist. Written atomically; bad input
(a missing run, no references, runs of another env) stops with one line, exit 1, nothing written.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from distral_repro.analysis.aggregate import add_references_argument
from distral_repro.analysis.best_setting import LATE_FRACTION, late_score, pick_setting  # noqa: F401 (the rule's parts)
from distral_repro.analysis.runs import RunFileError, load_runs
from distral_repro.analysis.scores import MissingReferenceError, References
from distral_repro.analysis.tables import Study
from distral_repro.runio import atomic_write_csv

#: A grid run directory's name: the setting's stem, then the seed (docs/contracts.md).
RUN_DIR_NAME = re.compile(r"^(?P<setting>beta[^_/]+_lr[^_/]+)_seed\d+$")
COLUMNS = ["env", "algo", "setting", "beta", "lr", "runs", "diverged", "late_score", "auc_score", "final_score"]


class SelectionError(ValueError):
    """The runs given cannot be selected from (wrong env, a name that is not a grid run's)."""


def setting_stem(run_dir: str) -> str:
    """beta{beta}_lr{lr} of a grid run directory named beta{beta}_lr{lr}_seed{seed}."""
    match = RUN_DIR_NAME.match(Path(run_dir).name)
    if match is None:
        raise SelectionError(f"run {run_dir}: its name is not beta{{beta}}_lr{{lr}}_seed{{seed}}")
    return match["setting"]


def _mean_of_run_means(scores: np.ndarray) -> float:
    """Mean over runs of each run's mean over tasks, of a (runs x tasks) matrix (NaN without runs)."""
    return float(np.mean(scores.mean(axis=1))) if scores.size else float("nan")


def selection_table(study: Study, env: str) -> pd.DataFrame:
    """One row per algorithm of env: its best setting in the grid (the Study's, by `best_setting`)
    and the scores that chose it."""
    if env not in study.envs:
        raise SelectionError(f"no run of env {env!r} among the runs given ({', '.join(study.envs)})")
    rows = []
    for algo in study.algos(env):
        res = study.results[(env, algo)]
        group = [r for r in study.runs if r.env == env and r.algo == algo and r.setting == (res.beta, res.lr)]
        stems = {setting_stem(r.run_dir) for r in group}
        if len(stems) != 1:
            raise SelectionError(f"{env} {algo}: the best setting's runs have different names ({', '.join(sorted(stems))})")
        rows.append({
            "env": env, "algo": algo, "setting": stems.pop(), "beta": res.beta, "lr": res.lr,
            "runs": len(group), "diverged": res.best_setting_diverged, "late_score": res.late_score,
            "auc_score": _mean_of_run_means(res.scores["auc"]), "final_score": _mean_of_run_means(res.scores["final"]),
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distral_repro.analysis.select", description=__doc__.split("\n")[0])
    parser.add_argument("--env", required=True, help="the environment whose runs are given")
    parser.add_argument("--out", required=True, type=Path, help="the selection CSV")
    add_references_argument(parser)
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="the grid's run directories of --env")
    args = parser.parse_args(argv)
    try:
        runs = load_runs(args.run_dirs)
        others = sorted({r.env for r in runs} - {args.env})
        if others:
            raise SelectionError(f"runs of other envs given ({', '.join(others)}); give only --env {args.env}'s")
        with np.errstate(invalid="ignore"):
            table = selection_table(Study(runs, References.load(args.references)), args.env)
    except (RunFileError, MissingReferenceError, SelectionError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    atomic_write_csv(args.out, table)
    print(f"wrote {args.out}: " + "; ".join(f"{a} {s}" for a, s in zip(table["algo"], table["setting"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
