"""Replay candidate selection rules on stored studies: which rule picks the settings that confirm best?

    python -m distral_repro.analysis.select_replay --out docs/results/pilots/selection_replay.csv \
        STUDY_DIR [STUDY_DIR ...]

Each STUDY_DIR holds a published study's `reference_scores.csv` and its runs
(`results/runs/ENV/ALGO/SETTING_seedN/`, `results/confirmation/...`, as unpacked from its
runs.tar.xz). For every study, env and algorithm, each rule of RULES picks a (beta, lr) from
the study's grid; the pick is judged by its confirmation final score: the mean normalised
final return of that setting's confirmation runs pooled over all studies given (every
study confirms at the same budget per env, so the pool is a fair judge of settings that
only some studies confirmed). A rule is better the higher the mean of its picks'
confirmation finals, and more stable the smaller their spread over the studies (mean
over env x algo of the standard deviation across studies). `covered` counts picks whose
setting some study confirmed: a pick no study confirmed cannot be judged.

Rules (all first prefer the setting with the fewest diverged runs):
  grid_auc          highest mean AUC score (the rule of the stored studies)
  grid_final        highest mean final score at the end of the grid
  grid_auc_2nd_half highest mean score over the second half of the grid's curve
  grid_last_quarter highest mean score over the last quarter of the grid's curve
  top2_auc_confirm  confirm the two best by grid AUC, keep the better confirmation final
                    (twice the confirmation runs)
  top2_final_confirm  the same for the two best by grid final score
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from distral_repro.analysis.best_setting import LATE_FRACTION, late_score
from distral_repro.runio import atomic_write_csv

GRID_RULES = {"grid_auc": "auc", "grid_final": "final", "grid_auc_2nd_half": "second_half",
              "grid_last_quarter": "last_quarter"}
TOP2_RULES = {"top2_auc_confirm": "auc", "top2_final_confirm": "final"}
RULES = tuple(GRID_RULES) + tuple(TOP2_RULES)


def curve_scores(progress: pd.DataFrame, random: np.ndarray, upper: np.ndarray) -> dict[str, float]:
    """Mean normalised score over tasks of one run: AUC (all points), final (last point), means
    over the second half and the last quarter of the steps (`best_setting.late_score`).

    `progress`: rows step, task, episode_return; `random`, `upper`: (num_tasks,).
    """
    progress = progress.dropna(subset=["episode_return"])  # an evaluation point without episodes
    last = progress[progress["step"] == progress["step"].max()]
    return {
        "auc": late_score(progress, random, upper, fraction=1.0),
        "final": late_score(last, random, upper, fraction=1.0),
        "second_half": late_score(progress, random, upper, fraction=0.5),
        "last_quarter": late_score(progress, random, upper, fraction=LATE_FRACTION),
    }


def load_stage(study: Path, stage: str) -> pd.DataFrame:
    """One row per run of a stage (runs | confirmation): study, env, algo, beta, lr, seed, diverged + scores."""
    refs = pd.read_csv(study / "reference_scores.csv")
    rows = []
    for summary_path in sorted(study.glob(f"results/{stage}/*/*/*/summary.json")):
        summary = json.loads(summary_path.read_text())
        env = summary["env"]
        ref = refs[refs["env"] == env].sort_values("task")
        row = {"study": study.name, "env": env, "algo": summary["algo"], "beta": float(summary["beta"]),
               "lr": float(summary["lr"]), "seed": int(summary["seed"]), "diverged": summary["status"] != "ok"}
        if row["diverged"]:
            row.update(dict.fromkeys(("auc", "final", "second_half", "last_quarter"), np.nan))
        else:
            progress = pd.read_csv(summary_path.parent / "progress.csv")
            row.update(curve_scores(progress, ref["random_return"].to_numpy(float), ref["upper_return"].to_numpy(float)))
        rows.append(row)
    if not rows:
        raise ValueError(f"{study}: no results/{stage}/ENV/ALGO/RUN/summary.json")
    return pd.DataFrame(rows)


def rank_settings(grid: pd.DataFrame, score: str) -> pd.DataFrame:
    """Settings of one (study, env, algo) best first: fewest diverged runs, then highest mean `score`."""
    per = grid.groupby(["beta", "lr"]).agg(diverged=("diverged", "sum"), score=(score, "mean")).reset_index()
    return per.sort_values(["diverged", "score"], ascending=[True, False], kind="stable").reset_index(drop=True)


def replay(grid: pd.DataFrame, confirmation: pd.DataFrame) -> pd.DataFrame:
    """One row per (rule, study, env, algo): the pick and its pooled confirmation final score."""
    confirmed = confirmation.groupby(["env", "algo", "beta", "lr"])["final"].mean()
    rows = []
    for (study, env, algo), runs in grid.groupby(["study", "env", "algo"]):
        def judged(beta, lr):
            return confirmed.get((env, algo, beta, lr), np.nan)

        for rule, score in {**GRID_RULES, **TOP2_RULES}.items():
            ranked = rank_settings(runs, score)
            picks = ranked.head(2 if rule in TOP2_RULES else 1)
            finals = [judged(b, lr) for b, lr in zip(picks["beta"], picks["lr"])]
            if rule in TOP2_RULES:
                k = int(np.nanargmax(finals)) if not np.all(np.isnan(finals)) else 0
                covered = not np.isnan(finals).any()
            else:
                k, covered = 0, not np.isnan(finals[0])
            rows.append({"rule": rule, "study": study, "env": env, "algo": algo, "beta": picks["beta"].iloc[k],
                         "lr": picks["lr"].iloc[k], "confirmation_final": finals[k] if covered else np.nan,
                         "covered": covered})
    return pd.DataFrame(rows)


def summarise(picks: pd.DataFrame) -> pd.DataFrame:
    """Per rule: mean confirmation final of its picks (over all its covered picks, and over the
    `common` cases where every rule's pick is covered, the fair comparison), their spread across
    studies, picks covered, and the number of (env, algo) whose pick differs between studies."""
    case = ["study", "env", "algo"]
    all_covered = picks.groupby(case)["covered"].all()
    common = picks.set_index(case).index.isin(all_covered[all_covered].index)
    out = []
    for rule, p in picks.groupby("rule", sort=False):
        fair = picks[common & (picks["rule"] == rule)]
        spread = p.groupby(["env", "algo"])["confirmation_final"].std(ddof=1)
        changes = p.groupby(["env", "algo"]).apply(lambda g: g[["beta", "lr"]].drop_duplicates().shape[0] > 1,
                                                    include_groups=False)
        out.append({"rule": rule, "common_cases": len(fair), "common_mean_final": fair["confirmation_final"].mean(),
                    "common_worst_final": fair["confirmation_final"].min(),
                    "mean_confirmation_final": p["confirmation_final"].mean(),
                    "worst_confirmation_final": p["confirmation_final"].min(),
                    "spread_across_studies": spread.mean(), "covered": f"{int(p['covered'].sum())}/{len(p)}",
                    "unstable_choices": int(changes.sum())})
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distral_repro.analysis.select_replay",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("studies", nargs="+", type=Path, help="unpacked study directories")
    parser.add_argument("--out", required=True, type=Path, help="the summary CSV (the picks go beside it, *_picks.csv)")
    args = parser.parse_args(argv)
    try:
        for study in args.studies:
            if not (study / "reference_scores.csv").is_file():
                raise ValueError(f"{study}: no reference_scores.csv")
        grid = pd.concat([load_stage(s, "runs") for s in args.studies], ignore_index=True)
        confirmation = pd.concat([load_stage(s, "confirmation") for s in args.studies], ignore_index=True)
    except (ValueError, OSError, KeyError) as err:
        print(f"distral_repro.analysis.select_replay: error: {err}", file=sys.stderr)
        return 1
    picks = replay(grid, confirmation)
    table = summarise(picks)
    atomic_write_csv(args.out, table.round(4))
    atomic_write_csv(args.out.with_name(args.out.stem + "_picks.csv"), picks.round(4))
    print(table.round(3).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
