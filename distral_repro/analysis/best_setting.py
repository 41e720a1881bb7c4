"""The grid's best setting of an algorithm: one rule for the selection, the tables, the figures and the claims.

The confirmation stage reruns each env x algorithm at the (beta, lr) this rule picks
(`select`), and every table, "best setting" curve and claim that speaks of an algorithm's
best setting (`tables.Study`) uses the same rule, through `best_setting` below:

- the setting with the fewest diverged runs (a setting where runs diverge is not a good one),
- then the highest *late score*: the mean normalised score over the evaluation points in the
  last quarter of the grid's curve, over tasks, averaged over the setting's non-diverged runs
  (`late_score`; chosen over the mean AUC, which rewards early learning and so penalises slow
  learners, by a replay on the four stored studies: docs/study_design.md),
- ties go to the smaller beta, then the smaller lr (deterministic).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

#: The rule scores a run by its mean normalised score over this last fraction of its curve.
LATE_FRACTION = 0.25


def late_score(progress: pd.DataFrame, random: np.ndarray, upper: np.ndarray, fraction: float = LATE_FRACTION) -> float:
    """Mean normalised score over tasks and the evaluation points in the last `fraction` of the steps.

    `progress`: rows step, task, episode_return; `random`, `upper`: (num_tasks,) references.
    """
    curve = progress.pivot_table(index="step", columns="task", values="episode_return").sort_index()
    scores = (curve.to_numpy(float) - random[None, :]) / (upper - random)[None, :]  # (points, tasks)
    steps = curve.index.to_numpy(float)
    return float(np.nanmean(scores[steps > (1.0 - fraction) * steps[-1]]))


def pick_setting(per_setting: pd.DataFrame) -> int:
    """Index of the chosen row of a (beta, lr, diverged, late_score) table: fewest diverged, then best late score."""
    ranked = per_setting.sort_values(["diverged", "late_score", "beta", "lr"], ascending=[True, False, True, True],
                                     kind="stable", na_position="last")
    return int(ranked.index[0])


def settings_of(runs: Iterable, late_scores: Sequence[float]) -> pd.DataFrame:
    """One row per (beta, lr) of the runs of one env x algorithm: beta, lr, runs, diverged and
    late_score (the mean of `late_scores`, one per run, over its non-diverged runs; NaN if none).

    `runs`: objects with `.setting` (beta, lr) and `.diverged`, in the order of `late_scores`.
    """
    rows: dict[tuple[float, float], dict] = {}
    for run, score in zip(runs, late_scores, strict=True):
        row = rows.setdefault(run.setting, {"beta": run.setting[0], "lr": run.setting[1], "runs": 0, "diverged": 0,
                                            "_late": []})
        row["runs"] += 1
        row["diverged"] += int(run.diverged)
        if not run.diverged:
            row["_late"].append(score)
    table = pd.DataFrame([{**{k: v for k, v in row.items() if k != "_late"},
                           "late_score": float(np.mean(row["_late"])) if row["_late"] else np.nan}
                          for _, row in sorted(rows.items())])
    return table


def best_setting(runs: Sequence, late_scores: Sequence[float]) -> tuple[tuple[float, float], float]:
    """The chosen (beta, lr) of the runs of one env x algorithm and its late score."""
    table = settings_of(runs, late_scores)
    row = table.loc[pick_setting(table)]
    return (float(row["beta"]), float(row["lr"])), float(row["late_score"])
