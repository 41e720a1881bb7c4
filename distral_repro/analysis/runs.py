"""Read and validate run directories (docs/contracts.md, "Run directory").

Every problem with a run's files raises `RunFileError` naming the run directory: a
missing or truncated run must stop the aggregation, never shrink a table silently.
A diverged run (status "diverged") is valid data: it counts as a failure downstream.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

STATUSES = ("ok", "diverged")
PROGRESS_COLUMNS = ("step", "task", "episode_return")
PI0_COLUMNS = ("step", "task", "episode_return")
#: The task policies' return on pi_0's evaluation episodes (runs made before it lack the column).
PI0_TASK_COLUMN = "task_policy_return"
GRIDWORLD_PROGRESS_COLUMNS = ("episode", "task", "episode_return", "episode_length", "reached_goal")
GRIDWORLD_METHODS = ("distral", "separate")

#: Fraction of a run's steps that counts as "early" learning (claim C3).
EARLY_FRACTION = 0.25


class RunFileError(ValueError):
    """A run directory whose files are missing, truncated or inconsistent."""

    def __init__(self, run_dir: str | Path, problem: str):
        super().__init__(f"run {run_dir}: {problem}")
        self.run_dir = str(run_dir)


@dataclass(frozen=True)
class Run:
    """One deep-RL training run, as read from its directory.

    `final_return`, `auc_return`, `pi0_final_return` are (num_tasks,) arrays ordered by
    task index (NaN for a diverged run); `progress` and `pi0_progress` are the tidy logs.
    """

    run_dir: str
    env: str
    algo: str
    beta: float
    lr: float
    seed: int
    preset: str
    status: str
    tasks: tuple[int, ...]
    final_return: np.ndarray
    auc_return: np.ndarray
    pi0_final_return: np.ndarray | None
    diverged_at_step: int | None
    progress: pd.DataFrame
    pi0_progress: pd.DataFrame | None

    @property
    def diverged(self) -> bool:
        return self.status == "diverged"

    @property
    def setting(self) -> tuple[float, float]:
        return (self.beta, self.lr)

    def returns(self, metric: str) -> np.ndarray:
        """(num_tasks,) raw returns of a metric: final, auc, early_auc or pi0_final."""
        if metric == "final":
            return self.final_return
        if metric == "auc":
            return self.auc_return
        if metric == "early_auc":
            return self.early_auc_by_task()
        if metric == "pi0_final":
            if self.pi0_final_return is None:
                raise ValueError(f"run {self.run_dir} has no pi_0 evaluations")
            return self.pi0_final_return
        raise ValueError(f"unknown metric {metric!r}")

    def early_auc_by_task(self) -> np.ndarray:
        """(num_tasks,) mean episode return over the first EARLY_FRACTION of the run's steps."""
        if self.progress.empty:
            return np.full(len(self.tasks), np.nan)
        cutoff = EARLY_FRACTION * self.progress["step"].max()
        early = self.progress[self.progress["step"] <= cutoff]
        return np.array(
            [early.loc[early["task"] == t, "episode_return"].dropna().mean() for t in self.tasks]
        )


def _read_summary(run_dir: Path) -> dict:
    path = run_dir / "summary.json"
    if not run_dir.is_dir():
        raise RunFileError(run_dir, "directory does not exist")
    if not path.is_file():
        raise RunFileError(run_dir, "summary.json is missing (run not finished?)")
    try:
        summary = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunFileError(run_dir, f"summary.json is not valid JSON ({err})") from None
    if not isinstance(summary, dict):
        raise RunFileError(run_dir, "summary.json is not a JSON object")
    return summary


def _require(run_dir: Path, summary: dict, keys: tuple[str, ...]) -> None:
    missing = [k for k in keys if k not in summary]
    if missing:
        raise RunFileError(run_dir, f"summary.json lacks {', '.join(missing)}")


def _number(run_dir: Path, name: str, value) -> float:
    """A finite number from summary.json (values of an ok run must all be finite)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RunFileError(run_dir, f"summary.json: {name}={value!r} is not a number") from None
    if not math.isfinite(number):
        raise RunFileError(run_dir, f"summary.json: {name} is not finite in a run with status ok")
    return number


def _per_task(run_dir: Path, summary: dict, key: str, tasks: tuple[int, ...] | None):
    """Read a {task: value} mapping into (tasks, (num_tasks,) values ordered by task).

    When `tasks` is given, the mapping must cover exactly those tasks.
    """
    mapping = summary[key]
    if not isinstance(mapping, dict) or not mapping:
        raise RunFileError(run_dir, f"summary.json: {key} is not a non-empty {{task: value}} mapping")
    try:
        by_task = {int(k): v for k, v in mapping.items()}
    except ValueError:
        raise RunFileError(run_dir, f"summary.json: {key} has a non-integer task key") from None
    keys = tuple(sorted(by_task))
    if tasks is not None and keys != tasks:
        raise RunFileError(run_dir, f"summary.json: {key} covers tasks {list(keys)}, expected {list(tasks)}")
    return keys, np.array([_number(run_dir, f"{key}[{t}]", by_task[t]) for t in keys])


def _read_csv(run_dir: Path, name: str, columns: tuple[str, ...], need_rows: bool) -> pd.DataFrame:
    path = run_dir / name
    if not path.is_file():
        raise RunFileError(run_dir, f"{name} is missing")
    with path.open("rb") as fh:  # every writer ends its last row with a newline
        size = fh.seek(0, 2)
        if size and (fh.seek(size - 1), fh.read(1))[1] != b"\n":
            raise RunFileError(run_dir, f"{name} is truncated: its last line is cut")
    _check_field_counts(run_dir, name, path)
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise RunFileError(run_dir, f"{name} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise RunFileError(run_dir, f"{name} cannot be parsed ({err})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise RunFileError(run_dir, f"{name} lacks column(s) {', '.join(missing)}")
    if need_rows and frame.empty:
        raise RunFileError(run_dir, f"{name} has no rows")
    for column in columns:
        if not frame.empty and not pd.api.types.is_numeric_dtype(frame[column]):
            raise RunFileError(run_dir, f"{name}: column {column} is not numeric (truncated file?)")
    for column in ("step", "task", "episode"):
        if column in columns and frame[column].isna().any():
            raise RunFileError(run_dir, f"{name}: column {column} has empty values (truncated file?)")
    return frame


def _check_field_counts(run_dir: Path, name: str, path: Path) -> None:
    """Every row has as many fields as the header: a row cut after a comma and ended with a
    newline (`1600,7,0.0`) would otherwise read as NaN losses or a shorter curve."""
    import csv

    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            for row in reader:
                if header is not None and len(row) != len(header):
                    raise RunFileError(
                        run_dir, f"{name} line {reader.line_num} has {len(row)} fields, the header {len(header)} (truncated?)"
                    )
    except (UnicodeDecodeError, csv.Error) as err:
        raise RunFileError(run_dir, f"{name} cannot be parsed ({err})") from None


def _check_steps(run_dir: Path, progress: pd.DataFrame, summary: dict, ok: bool) -> None:
    """Every task logged at the same steps, up to the run's last step: a file cut at a row
    boundary (fewer rows, same format) must not shrink the learning curve silently."""
    if progress.empty:
        return
    steps = progress.groupby("task")["step"].apply(tuple)
    if steps.nunique() != 1:
        short = steps.map(len).idxmin()
        raise RunFileError(run_dir, f"progress.csv: task {short} has fewer evaluation points than the others (truncated?)")
    last = int(progress["step"].max())
    expected = summary.get("steps_per_task")
    if expected is None:
        return
    if ok and last != int(expected):
        raise RunFileError(
            run_dir, f"progress.csv ends at step {last}, but the run took {int(expected)} steps per task (truncated?)"
        )
    if not ok and last > int(expected):
        raise RunFileError(run_dir, f"progress.csv goes to step {last}, past the run's {int(expected)} steps per task")


def _check_pi0(run_dir: Path, pi0: pd.DataFrame | None, pi0_final: np.ndarray, tasks: tuple[int, ...], summary: dict) -> None:
    """pi0_eval.csv of an ok run with pi0_final_return: present, every task at the same steps,
    up to the run's last step, and its last point equal to summary.json's pi0_final_return
    (a cut row or a whole cut point would change the pi_0 curve silently)."""
    if pi0 is None:
        raise RunFileError(run_dir, "pi0_eval.csv is missing, but summary.json has pi0_final_return")
    logged = tuple(sorted(int(t) for t in pi0["task"].unique()))
    if logged != tasks:
        raise RunFileError(run_dir, f"pi0_eval.csv covers tasks {list(logged)}, summary.json {list(tasks)} (truncated?)")
    steps = pi0.groupby("task")["step"].apply(tuple)
    if steps.nunique() != 1:
        short = steps.map(len).idxmin()
        raise RunFileError(run_dir, f"pi0_eval.csv: task {short} has fewer evaluation points than the others (truncated?)")
    last = int(pi0["step"].max())
    expected = summary.get("steps_per_task")
    if expected is not None and last != int(expected):
        raise RunFileError(run_dir, f"pi0_eval.csv ends at step {last}, but the run took {int(expected)} steps per task (truncated?)")
    final = pi0[pi0["step"] == last].set_index("task")["episode_return"].reindex(list(tasks)).to_numpy(dtype=float)
    if not np.allclose(final, pi0_final, rtol=1e-6, atol=1e-9, equal_nan=True):
        raise RunFileError(run_dir, "pi0_eval.csv's last point differs from summary.json's pi0_final_return (edited or truncated?)")


def load_run(run_dir: str | Path) -> Run:
    """Read and validate one deep-RL run directory; raises RunFileError naming it."""
    path = Path(run_dir)
    summary = _read_summary(path)
    _require(path, summary, ("status", "algo", "env", "beta", "lr", "seed"))
    status = summary["status"]
    if status not in STATUSES:
        raise RunFileError(path, f"summary.json: status {status!r} is not one of {', '.join(STATUSES)}")
    ok = status == "ok"
    if ok:
        _require(path, summary, ("final_return", "auc_return", "mean_final_return", "mean_auc_return"))
        _number(path, "mean_final_return", summary["mean_final_return"])
        _number(path, "mean_auc_return", summary["mean_auc_return"])
    progress = _read_csv(path, "progress.csv", PROGRESS_COLUMNS, need_rows=ok)
    _check_steps(path, progress, summary, ok)

    if ok:
        tasks, final = _per_task(path, summary, "final_return", None)
        _, auc = _per_task(path, summary, "auc_return", tasks)
        logged = tuple(sorted(int(t) for t in progress["task"].unique()))
        if logged != tasks:
            raise RunFileError(path, f"progress.csv covers tasks {list(logged)}, summary.json {list(tasks)}")
    else:
        # A diverged run has no returns; its tasks are those it logged (load_runs fills
        # in the env's tasks when it logged none).
        tasks = tuple(sorted(int(t) for t in progress["task"].unique()))
        final = np.full(len(tasks), np.nan)
        auc = np.full(len(tasks), np.nan)

    pi0_final = None
    if ok and summary.get("pi0_final_return") is not None:
        _, pi0_final = _per_task(path, summary, "pi0_final_return", tasks)
    pi0_progress = None
    if (path / "pi0_eval.csv").exists():
        pi0_progress = _read_csv(path, "pi0_eval.csv", PI0_COLUMNS, need_rows=ok)
        if PI0_TASK_COLUMN in pi0_progress.columns and not pi0_progress.empty \
                and not pd.api.types.is_numeric_dtype(pi0_progress[PI0_TASK_COLUMN]):
            raise RunFileError(path, f"pi0_eval.csv: column {PI0_TASK_COLUMN} is not numeric (truncated file?)")
    if ok and pi0_progress is not None and pi0_final is None:
        raise RunFileError(path, "pi0_eval.csv exists but summary.json has no pi0_final_return")
    if pi0_final is not None:
        _check_pi0(path, pi0_progress, pi0_final, tasks, summary)

    try:
        seed = int(summary["seed"])
        beta = float(summary["beta"])
        lr = float(summary["lr"])
    except (TypeError, ValueError):
        raise RunFileError(path, "summary.json: beta, lr and seed must be numbers") from None
    diverged_at = summary.get("diverged_at_step")
    return Run(
        run_dir=str(run_dir),
        env=str(summary["env"]),
        algo=str(summary["algo"]),
        beta=beta,
        lr=lr,
        seed=seed,
        preset=str(summary.get("preset", "default")),
        status=status,
        tasks=tasks,
        final_return=final,
        auc_return=auc,
        pi0_final_return=pi0_final,
        diverged_at_step=None if diverged_at is None else int(diverged_at),
        progress=progress,
        pi0_progress=pi0_progress,
    )


def load_runs(run_dirs: list[str | Path]) -> list[Run]:
    """Load every run, in (env, algo, beta, lr, seed) order whatever the order of `run_dirs`
    (bootstrap intervals resample in that order, so the tables do not depend on a directory
    listing); duplicates and inconsistent task sets are errors naming the runs."""
    runs = sorted((load_run(d) for d in run_dirs), key=lambda r: (r.env, r.algo, r.beta, r.lr, r.seed, r.run_dir))
    tasks_by_env = {r.env: r.tasks for r in runs if r.tasks}
    # A run that diverged before its first evaluation logged no task: give it its env's tasks.
    runs = [
        replace(r, tasks=tasks_by_env[r.env], final_return=np.full(len(tasks_by_env[r.env]), np.nan),
                auc_return=np.full(len(tasks_by_env[r.env]), np.nan))
        if not r.tasks and r.env in tasks_by_env else r
        for r in runs
    ]
    seen: dict[tuple, str] = {}
    tasks_of_env: dict[str, tuple[tuple[int, ...], str]] = {}
    presets_of_env: dict[str, tuple[str, str]] = {}
    for run in runs:
        key = (run.env, run.algo, run.beta, run.lr, run.seed)
        if key in seen:
            raise RunFileError(run.run_dir, f"same env/algo/beta/lr/seed as run {seen[key]}")
        seen[key] = run.run_dir
        if run.env in tasks_of_env and run.tasks and tasks_of_env[run.env][0] != run.tasks:
            other_tasks, other = tasks_of_env[run.env]
            raise RunFileError(
                run.run_dir, f"has tasks {list(run.tasks)} but run {other} of env {run.env} has {list(other_tasks)}"
            )
        if run.tasks:
            tasks_of_env.setdefault(run.env, (run.tasks, run.run_dir))
        first = presets_of_env.setdefault(run.env, (run.preset, run.run_dir))
        if first[0] != run.preset:
            raise RunFileError(run.run_dir, f"has preset {run.preset} but run {first[1]} of env {run.env} has {first[0]}")
    return runs


@dataclass(frozen=True)
class GridworldRun:
    """One tabular grid-world run: per-task (num_tasks,) final and AUC returns."""

    run_dir: str
    method: str
    seed: int
    status: str
    tasks: tuple[int, ...]
    final_return: np.ndarray
    auc_return: np.ndarray
    progress: pd.DataFrame


def load_gridworld_run(run_dir: str | Path) -> GridworldRun:
    """Read and validate one grid-world run directory; raises RunFileError naming it."""
    path = Path(run_dir)
    summary = _read_summary(path)
    _require(path, summary, ("status", "method", "seed"))
    status = summary["status"]
    if status not in STATUSES:
        raise RunFileError(path, f"summary.json: status {status!r} is not one of {', '.join(STATUSES)}")
    if summary["method"] not in GRIDWORLD_METHODS:
        raise RunFileError(
            path, f"summary.json: method {summary['method']!r} is not one of {', '.join(GRIDWORLD_METHODS)}"
        )
    ok = status == "ok"
    progress = _read_csv(path, "progress.csv", GRIDWORLD_PROGRESS_COLUMNS, need_rows=ok)
    if ok:
        _require(path, summary, ("final_return", "auc_return", "mean_final_return", "mean_auc_return"))
        tasks, final = _per_task(path, summary, "final_return", None)
        _, auc = _per_task(path, summary, "auc_return", tasks)
    else:
        tasks = tuple(sorted(int(t) for t in progress["task"].unique()))
        final = np.full(len(tasks), np.nan)
        auc = np.full(len(tasks), np.nan)
    try:
        seed = int(summary["seed"])
    except (TypeError, ValueError):
        raise RunFileError(path, "summary.json: seed must be an integer") from None
    return GridworldRun(
        run_dir=str(run_dir),
        method=summary["method"],
        seed=seed,
        status=status,
        tasks=tasks,
        final_return=final,
        auc_return=auc,
        progress=progress,
    )


def load_gridworld_runs(run_dirs: list[str | Path]) -> list[GridworldRun]:
    """Load grid-world runs; a repeated (method, seed) is an error naming the run."""
    runs = [load_gridworld_run(d) for d in run_dirs]
    seen: dict[tuple, str] = {}
    for run in runs:
        key = (run.method, run.seed)
        if key in seen:
            raise RunFileError(run.run_dir, f"same method/seed as run {seen[key]}")
        seen[key] = run.run_dir
    return runs
