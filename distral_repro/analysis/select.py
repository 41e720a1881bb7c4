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

    python -m distral_repro.analysis.select --env maze --from docs/results/default_grid/selection/maze.csv \
        --algos A3C KL_2col --out results/selection/maze.csv

A study whose settings another study chose (the workflow's `confirmation.selection_from`, e.g.
config/long_horizon.yaml) copies the rows of its algorithms from that study's table instead
(`read_selection`: each algorithm exactly once, with a setting named as a run directory's stem).
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
from distral_repro.runio import atomic_write_csv, atomic_write_text

#: A setting's stem, as the run directories spell it: beta{beta}_lr{lr}.
SETTING_STEM = re.compile(r"^beta(?P<beta>[^_/]+)_lr(?P<lr>[^_/]+)$")
#: A grid run directory's name: the setting's stem, then the seed (docs/contracts.md).
RUN_DIR_NAME = re.compile(rf"^(?P<setting>{SETTING_STEM.pattern.strip('^$')})_seed\d+$")
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


def read_selection(path: str | Path, env: str, algos: list[str]) -> tuple[list[str], list[dict[str, str]]]:
    """The columns of another study's selection table of `env` and its rows of `algos`, in that
    order, as written (strings). SelectionError naming the file when it is missing, lacks the
    env, algo or setting column, holds another env's rows, has an algorithm not once, or names
    a setting that is not a run directory's stem (beta{beta}_lr{lr})."""
    import csv

    path = Path(path)
    if not path.is_file():
        raise SelectionError(f"{path} does not exist")
    with path.open(newline="") as table:
        reader = csv.DictReader(table)
        columns, rows = list(reader.fieldnames or []), list(reader)
    missing = [c for c in ("env", "algo", "setting") if c not in columns]
    if missing:
        raise SelectionError(f"{path} has no column {', '.join(missing)}")
    others = sorted({r["env"] for r in rows} - {env})
    if others:
        raise SelectionError(f"{path} holds rows of {', '.join(others)}, not only of {env}")
    chosen = []
    for algo in algos:
        found = [r for r in rows if r["algo"] == algo]
        if len(found) != 1:
            raise SelectionError(f"{path} has {len(found) or 'no'} row{'s' if len(found) > 1 else ''} of {algo}")
        if not SETTING_STEM.match(found[0]["setting"]):
            raise SelectionError(f"{path}: {algo}'s setting {found[0]['setting']!r} is not beta{{beta}}_lr{{lr}}")
        chosen.append(found[0])
    return columns, chosen


def write_selection(path: str | Path, columns: list[str], rows: list[dict[str, str]]) -> Path:
    """Rows of `read_selection` as a CSV, their cells as read (atomically)."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_text(path, buffer.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distral_repro.analysis.select", description=__doc__.split("\n")[0])
    parser.add_argument("--env", required=True, help="the environment whose runs are given")
    parser.add_argument("--out", required=True, type=Path, help="the selection CSV")
    add_references_argument(parser)
    parser.add_argument("--from", dest="from_table", type=Path, metavar="TABLE",
                        help="another study's selection table of --env: copy the rows of --algos (no RUN_DIR)")
    parser.add_argument("--algos", nargs="+", default=[], metavar="ALGO", help="with --from: the algorithms to copy")
    parser.add_argument("run_dirs", nargs="*", metavar="RUN_DIR", help="the grid's run directories of --env")
    args = parser.parse_args(argv)
    if args.from_table is not None:
        if args.run_dirs or not args.algos:
            parser.error("--from takes --algos and no RUN_DIR")
        try:
            columns, rows = read_selection(args.from_table, args.env, args.algos)
        except SelectionError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        write_selection(args.out, columns, rows)
        print(f"wrote {args.out}: " + "; ".join(f"{r['algo']} {r['setting']}" for r in rows))
        return 0
    if not args.run_dirs:
        parser.error("at least one RUN_DIR is required (or --from TABLE)")
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
