"""From validated runs to the study's tables: per run, per setting, best setting, curves.

Definitions used throughout (documented again in claims.md):
- a run's score on a task is its `final_return` / `auc_return` from summary.json;
- the best (beta, lr) of an env x algo is the one with the fewest diverged runs and, among
  those, the highest mean AUC over its non-diverged runs and all tasks (the paper picks by
  area under the curve; a setting where runs diverge is not a good setting);
- a run *failed* if it diverged, or if its final return stayed below its environment's start
  level plus FAILURE_FRACTION of the way to the best final return seen in that environment
  (it learned next to nothing); start level = median over all runs of the env of the
  first evaluation return.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd

from distral_repro.analysis import stats
from distral_repro.analysis.runs import Run

#: Display order of algorithms (SPEC.md §4) and environments; unknown names follow, sorted.
ALGORITHM_ORDER = ("A3C", "A3C_multitask", "A3C_2col", "KL_1col", "KL+ent_1col", "KL_2col", "KL+ent_2col")
BASELINES = ("A3C", "A3C_multitask", "A3C_2col")
DISTRAL_ALGORITHMS = ("KL_1col", "KL+ent_1col", "KL_2col", "KL+ent_2col")
ENV_ORDER = ("maze", "navigation", "lasertag")

#: A run that closes less than this fraction of the gap between the start level and the best
#: final return of its environment counts as a failure.
FAILURE_FRACTION = 0.1


def ordered(names: Iterable[str], order: tuple[str, ...]) -> list[str]:
    """Names in the canonical order, unknown ones after it, alphabetically."""
    names = set(names)
    return [n for n in order if n in names] + sorted(names - set(order))


@dataclass(frozen=True)
class Estimate:
    """A mean with its bootstrap 95% interval."""

    mean: float
    low: float
    high: float

    @classmethod
    def of(cls, scores: np.ndarray) -> "Estimate":
        """Estimate of the mean of a (num_runs x num_tasks) score matrix."""
        if scores.size == 0:
            return cls(float("nan"), float("nan"), float("nan"))
        return cls(*stats.mean_score_ci(scores))


@dataclass(frozen=True)
class Curve:
    """A mean learning curve at common steps with pointwise intervals; arrays (num_steps,)."""

    step: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


@dataclass(frozen=True)
class AlgoResult:
    """One env x algo: its best setting and the robustness numbers over all its runs."""

    env: str
    algo: str
    beta: float
    lr: float
    best_runs: tuple[Run, ...]  # the non-diverged runs of the best setting
    best_setting_diverged: int
    num_runs: int  # all runs of this env x algo (the paper's 36)
    num_diverged: int
    num_failed: int
    final: Estimate
    auc: Estimate
    early_auc: Estimate
    pi0_final: Estimate | None
    curve: Curve | None
    pi0_curve: Curve | None

    @property
    def fraction_diverged(self) -> float:
        return self.num_diverged / self.num_runs

    @property
    def fraction_failed(self) -> float:
        return self.num_failed / self.num_runs


def score_matrix(runs: Iterable[Run], field: str) -> np.ndarray:
    """(num_runs x num_tasks) matrix of a per-task field of the given (non-diverged) runs."""
    rows = [getattr(run, field) for run in runs]
    return np.array(rows, dtype=float) if rows else np.empty((0, 0))


def common_curves(frames: list[pd.DataFrame], tasks: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Put the per-task curves of several runs on common steps.

    Args:
        frames: one tidy log per run with columns step, task, episode_return.
    Returns:
        steps (num_steps,) and returns (num_runs, num_tasks, num_steps); steps are the union of
        logged steps inside the range every curve covers, values linearly interpolated (the
        identity when all runs log at the same steps, the usual case).
    """
    per_run = []
    for frame in frames:
        per_task = []
        for task in tasks:
            rows = frame[(frame["task"] == task) & frame["episode_return"].notna()].sort_values("step")
            per_task.append((rows["step"].to_numpy(float), rows["episode_return"].to_numpy(float)))
        per_run.append(per_task)
    curves = [c for run in per_run for c in run]
    if any(len(steps) == 0 for steps, _ in curves):
        raise ValueError("a task has no finite episode_return")
    start = max(steps[0] for steps, _ in curves)
    stop = min(steps[-1] for steps, _ in curves)
    grid = np.unique(np.concatenate([steps for steps, _ in curves]))
    grid = grid[(grid >= start) & (grid <= stop)]
    values = np.array([[np.interp(grid, steps, returns) for steps, returns in run] for run in per_run])
    return grid, values


def curve_of(frames: list[pd.DataFrame], tasks: tuple[int, ...]) -> Curve | None:
    """Mean curve over runs and tasks with bootstrap intervals; None without runs."""
    if not frames:
        return None
    steps, values = common_curves(frames, tasks)
    mean, low, high = stats.curve_ci(values)
    return Curve(steps, mean, low, high)


def env_levels(runs: list[Run]) -> dict[str, tuple[float, float]]:
    """Per env: (start level, top level) used to call a run a failure (see module doc)."""
    levels = {}
    for env in {r.env for r in runs}:
        in_env = [r for r in runs if r.env == env]
        initial = [r.initial_return() for r in in_env]
        initial = [x for x in initial if np.isfinite(x)]
        finals = [float(np.mean(r.final_return)) for r in in_env if not r.diverged]
        start = float(np.median(initial)) if initial else float("nan")
        top = max(finals) if finals else float("nan")
        levels[env] = (start, top)
    return levels


def is_failure(run: Run, start: float, top: float) -> bool:
    """Diverged, or final return below start + FAILURE_FRACTION * (top - start)."""
    if run.diverged:
        return True
    if not (np.isfinite(start) and np.isfinite(top)) or top <= start:
        return False  # nobody learned anything: no run can be told apart as failed
    return float(np.mean(run.final_return)) < start + FAILURE_FRACTION * (top - start)


def setting_score(runs: list[Run]) -> tuple[int, float]:
    """Sort key of a (beta, lr) setting: (number diverged, -mean AUC of its ok runs)."""
    ok = [r for r in runs if not r.diverged]
    auc = float(score_matrix(ok, "auc_return").mean()) if ok else float("inf")
    return (len(runs) - len(ok), -auc if ok else auc)


class Study:
    """All tables of one set of runs, computed once and shared by the CLI and the figures."""

    def __init__(self, runs: list[Run]):
        if not runs:
            raise ValueError("no runs given")
        self.runs = runs
        self.levels = env_levels(runs)
        self.envs = ordered({r.env for r in runs}, ENV_ORDER)
        self.results: dict[tuple[str, str], AlgoResult] = {}
        for env in self.envs:
            for algo in ordered({r.algo for r in runs if r.env == env}, ALGORITHM_ORDER):
                self.results[(env, algo)] = self._algo_result(env, algo)

    def algos(self, env: str) -> list[str]:
        return [algo for (e, algo) in self.results if e == env]

    def failed(self, run: Run) -> bool:
        return is_failure(run, *self.levels[run.env])

    def _algo_result(self, env: str, algo: str) -> AlgoResult:
        runs = [r for r in self.runs if r.env == env and r.algo == algo]
        by_setting: dict[tuple[float, float], list[Run]] = {}
        for run in runs:
            by_setting.setdefault(run.setting, []).append(run)
        # Ties (equal score) go to the smaller beta, then smaller lr: deterministic.
        beta, lr = min(by_setting, key=lambda s: (setting_score(by_setting[s]), s))
        best_all = sorted(by_setting[(beta, lr)], key=lambda r: r.seed)
        best = tuple(r for r in best_all if not r.diverged)
        tasks = best[0].tasks if best else ()
        with_pi0 = best and all(r.pi0_final_return is not None for r in best)
        with_pi0_curve = best and all(r.pi0_progress is not None for r in best)
        return AlgoResult(
            env=env,
            algo=algo,
            beta=beta,
            lr=lr,
            best_runs=best,
            best_setting_diverged=len(best_all) - len(best),
            num_runs=len(runs),
            num_diverged=sum(r.diverged for r in runs),
            num_failed=sum(self.failed(r) for r in runs),
            final=Estimate.of(score_matrix(best, "final_return")),
            auc=Estimate.of(score_matrix(best, "auc_return")),
            early_auc=Estimate.of(np.array([r.early_auc_by_task() for r in best]) if best else np.empty((0, 0))),
            pi0_final=Estimate.of(score_matrix(best, "pi0_final_return")) if with_pi0 else None,
            curve=curve_of([r.progress for r in best], tasks),
            pi0_curve=curve_of([r.pi0_progress for r in best], tasks) if with_pi0_curve else None,
        )

    # ---- tables -------------------------------------------------------------------------

    def all_runs_table(self) -> pd.DataFrame:
        """One row per run."""
        rows = []
        for run in self.runs:
            rows.append(
                {
                    "env": run.env,
                    "algo": run.algo,
                    "beta": run.beta,
                    "lr": run.lr,
                    "seed": run.seed,
                    "status": run.status,
                    "failed": self.failed(run),
                    "mean_final_return": float(np.mean(run.final_return)),
                    "mean_auc_return": float(np.mean(run.auc_return)),
                    "pi0_mean_final_return": (
                        float(np.mean(run.pi0_final_return)) if run.pi0_final_return is not None else np.nan
                    ),
                    "initial_return": run.initial_return(),
                    "diverged_at_step": run.diverged_at_step,
                    "run_dir": run.run_dir,
                }
            )
        table = pd.DataFrame(rows)
        return _sort(table, ["beta", "lr", "seed"])

    def settings_table(self) -> pd.DataFrame:
        """One row per env x algo x (beta, lr): means over its non-diverged runs and tasks."""
        runs = self.all_runs_table()
        grouped = runs.groupby(["env", "algo", "beta", "lr"], sort=False)
        table = grouped.agg(
            runs=("seed", "size"),
            diverged=("status", lambda s: int((s == "diverged").sum())),
            failed=("failed", "sum"),
            mean_final_return=("mean_final_return", "mean"),
            mean_auc_return=("mean_auc_return", "mean"),
        ).reset_index()
        table["best"] = [
            (self.results[(e, a)].beta, self.results[(e, a)].lr) == (b, lr)
            for e, a, b, lr in zip(table["env"], table["algo"], table["beta"], table["lr"])
        ]
        return _sort(table, ["beta", "lr"])

    def best_settings_table(self) -> pd.DataFrame:
        """One row per env x algo at its best (beta, lr)."""
        rows = []
        for (env, algo), res in self.results.items():
            row = {
                "env": env,
                "algo": algo,
                "beta": res.beta,
                "lr": res.lr,
                "seeds": len(res.best_runs),
                "best_setting_diverged": res.best_setting_diverged,
            }
            for name, est in (("auc", res.auc), ("final", res.final), ("early_auc", res.early_auc)):
                row.update({f"{name}_return": est.mean, f"{name}_ci_low": est.low, f"{name}_ci_high": est.high})
            pi0 = res.pi0_final or Estimate(np.nan, np.nan, np.nan)
            row.update({"pi0_final_return": pi0.mean, "pi0_final_ci_low": pi0.low, "pi0_final_ci_high": pi0.high})
            row.update(
                {
                    "runs": res.num_runs,
                    "diverged": res.num_diverged,
                    "failed": res.num_failed,
                    "fraction_diverged": res.fraction_diverged,
                    "fraction_failed": res.fraction_failed,
                    "robustness_iqr": self.robustness_iqr(env, algo),
                }
            )
            rows.append(row)
        return pd.DataFrame(rows)

    def learning_curves_table(self) -> pd.DataFrame:
        """Tidy curves of every env x algo at its best setting (x = step)."""
        frames = []
        for (env, algo), res in self.results.items():
            if res.curve is None:
                continue
            frames.append(
                pd.DataFrame(
                    {
                        "env": env,
                        "algo": algo,
                        "step": res.curve.step,
                        "mean_return": res.curve.mean,
                        "ci_low": res.curve.low,
                        "ci_high": res.curve.high,
                        "beta": res.beta,
                        "lr": res.lr,
                    }
                )
            )
        columns = ["env", "algo", "step", "mean_return", "ci_low", "ci_high", "beta", "lr"]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)

    def normalised_finals(self, env: str, algo: str) -> np.ndarray | None:
        """(num_runs,) normalised final returns of all runs of env x algo; diverged runs score 0.

        (final - start) / (top - start) with the env's start and top levels: 0 = learned
        nothing, 1 = the best run of the env. None when nobody in the env learned (top <= start).
        """
        start, top = self.levels[env]
        if not (np.isfinite(start) and np.isfinite(top)) or top <= start:
            return None
        runs = [r for r in self.runs if r.env == env and r.algo == algo]
        return np.array([0.0 if r.diverged else (np.mean(r.final_return) - start) / (top - start) for r in runs])

    def robustness_iqr(self, env: str, algo: str) -> float:
        """Interquartile range of the normalised final returns of all runs (lower = flatter)."""
        scores = self.normalised_finals(env, algo)
        return stats.interquartile_range(scores) if scores is not None else float("nan")

    def sorted_final_returns(self, env: str, algo: str) -> tuple[np.ndarray, int]:
        """Robustness data: final returns of all non-diverged runs, best first, and the
        number of diverged runs (failures that have no final return)."""
        runs = [r for r in self.runs if r.env == env and r.algo == algo]
        finals = np.sort([float(np.mean(r.final_return)) for r in runs if not r.diverged])[::-1]
        return finals, sum(r.diverged for r in runs)


def _sort(table: pd.DataFrame, then: list[str]) -> pd.DataFrame:
    """Sort by canonical env and algo order, then the given columns."""
    env_rank = {e: i for i, e in enumerate(ordered(table["env"], ENV_ORDER))}
    algo_rank = {a: i for i, a in enumerate(ordered(table["algo"], ALGORITHM_ORDER))}
    keyed = table.assign(_env=table["env"].map(env_rank), _algo=table["algo"].map(algo_rank))
    return keyed.sort_values(["_env", "_algo", *then]).drop(columns=["_env", "_algo"]).reset_index(drop=True)


def markdown_table(table: pd.DataFrame, float_format: str = "{:.4g}") -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""

    def cell(value) -> str:
        if isinstance(value, (float, np.floating)):
            return "" if np.isnan(value) else float_format.format(value)
        return str(value).replace("|", "\\|")

    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def gridworld_curve(runs, method: str, window: int = 20) -> Curve | None:
    """Mean episode-return curve (x = episode) of the ok grid-world runs of one method.

    Each task's returns are first smoothed by a trailing moving average over `window`
    episodes (single episodes of a tabular learner are very noisy).
    """
    frames = []
    for run in runs:
        if run.method != method or run.status != "ok":
            continue
        frame = run.progress.sort_values(["task", "episode"]).copy()
        frame["episode_return"] = frame.groupby("task")["episode_return"].transform(
            lambda r: r.rolling(window, min_periods=1).mean()
        )
        frames.append(frame.rename(columns={"episode": "step"}))
    if not frames:
        return None
    return curve_of(frames, tuple(sorted(frames[0]["task"].unique())))
