"""Normalised scores: returns on the scale of the random (0) and scripted (1) policies.

    score = (return - random) / (upper - random)                        per task

`random` and `upper` come from results/reference_scores.csv (`python -m
distral_repro.reference`, the workflow's `reference_scores` rule): the uniform-random
policy's and the scripted shortest-path policy's mean returns on each task of the preset.
A family without a scripted policy has upper_source ``user`` (a documented value its
definition gives) or ``best_in_grid`` (no upper value in the file; the best final return
any run of the grid reached on that task is used, and every table says so). A scripted
family may have tasks whose upper reference is ``best_known`` instead: the documented
best-known return where learned policies beat the scripted one by more than 10%
(`distral_repro.reference`, docs/study_design.md); its source then reads
"scripted; best_known on tasks ...".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REFERENCE_COLUMNS = ("env", "preset", "task", "random_return", "upper_return", "upper_source")
UPPER_SOURCES = ("scripted", "user", "best_in_grid", "best_known")


class MissingReferenceError(ValueError):
    """A family of the runs has no reference scores."""


def normalise(returns: np.ndarray, random: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """(returns - random) / (upper - random), broadcast over the last axis (tasks).

    0 = the uniform-random policy, 1 = the upper reference (the scripted policy); a
    score can be below 0 (worse than random) or above 1 (better than the reference).
    """
    random = np.asarray(random, dtype=float)
    return (np.asarray(returns, dtype=float) - random) / (np.asarray(upper, dtype=float) - random)


@dataclass(frozen=True)
class TaskReferences:
    """The references of one family, per task (arrays ordered by task index)."""

    env: str
    preset: str
    tasks: tuple[int, ...]
    random: np.ndarray
    upper: np.ndarray  # NaN where upper_source is best_in_grid (filled by `with_best_in_grid`)
    source: str

    def with_best_in_grid(self, best: np.ndarray) -> "TaskReferences":
        """These references with the missing upper values replaced by `best` (per task)."""
        if self.source != "best_in_grid":
            return self
        return TaskReferences(self.env, self.preset, self.tasks, self.random, np.asarray(best, dtype=float), self.source)

    def normalise(self, returns: np.ndarray) -> np.ndarray:
        return normalise(returns, self.random, self.upper)


class References:
    """Every family's references, read from a reference_scores.csv."""

    def __init__(self, table: pd.DataFrame, path: str = "reference_scores.csv"):
        missing = [c for c in REFERENCE_COLUMNS if c not in table.columns]
        if missing:
            raise MissingReferenceError(f"{path} lacks column(s) {', '.join(missing)}")
        self.path = path
        self.by_env: dict[tuple[str, str], TaskReferences] = {}
        for (env, preset), rows in table.groupby(["env", "preset"], sort=False):
            rows = rows.sort_values("task")
            sources = set(rows["upper_source"])
            mixed = sources == {"scripted", "best_known"}
            if not mixed and (len(sources) != 1 or not sources <= set(UPPER_SOURCES)):
                raise MissingReferenceError(
                    f"{path}: family {env!r} needs one upper_source of {', '.join(UPPER_SOURCES)}, got {sorted(sources)}"
                )
            if sources == {"scripted", "best_known"} or sources == {"best_known"}:
                known = rows.loc[rows["upper_source"] == "best_known", "task"]
                sources = {"scripted; best_known on tasks " + ", ".join(str(int(t)) for t in known)}
            source = sources.pop()
            upper = rows["upper_return"].to_numpy(float)
            random = rows["random_return"].to_numpy(float)
            if not np.all(np.isfinite(random)) or (source != "best_in_grid" and not np.all(np.isfinite(upper))):
                raise MissingReferenceError(f"{path}: family {env!r} has a missing or non-finite reference return")
            self.by_env[(str(env), str(preset))] = TaskReferences(
                str(env), str(preset), tuple(int(t) for t in rows["task"]), random, upper, source
            )

    @classmethod
    def load(cls, path: str | Path) -> "References":
        path = Path(path)
        if not path.is_file():
            raise MissingReferenceError(
                f"{path} is missing: make it with `snakemake {path}` or "
                f"`python -m distral_repro.reference --preset PRESET --out {path} ENV ...`"
            )
        return cls(pd.read_csv(path), str(path))

    def check(self, env: str, tasks: tuple[int, ...], preset: str) -> TaskReferences:
        """The references of `env` under `preset`, covering exactly `tasks`; else one clear error."""
        refs = self.by_env.get((env, preset))
        if refs is None:
            raise MissingReferenceError(
                f"family {env!r} (preset {preset}) has no reference scores in {self.path}: add it to the workflow's "
                f"`reference_scores` rule (`python -m distral_repro.reference --preset PRESET --out {self.path} "
                f"{env} ...`), or give the family a `reference_return`"
            )
        if refs.tasks != tuple(tasks):
            raise MissingReferenceError(
                f"family {env!r}: {self.path} covers tasks {list(refs.tasks)}, the runs have {list(tasks)}: rebuild it"
            )
        return refs
