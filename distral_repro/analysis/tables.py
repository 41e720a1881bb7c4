"""From validated runs to the study's tables: per run, per setting, best setting, curves.

Every score is normalised per task (`distral_repro.analysis.scores`): 0 = the uniform-random
policy, 1 = the upper reference (the scripted shortest-path policy). Definitions used
throughout (documented again in claims.md):
- a run's final / AUC score on a task is its normalised `final_return` / `auc_return` from
  summary.json (final = mean over the last 10% of steps, AUC = mean over the whole curve);
  early AUC = mean over the first EARLY_FRACTION of steps;
- the best (beta, lr) of an env x algo is the one the confirmation stage reruns, by the one
  rule of `best_setting`: the fewest diverged runs, then the highest mean score over the last
  quarter of the grid's curve (its late score) over its non-diverged runs and all tasks;
- a result at the best setting states its horizon: the steps per task of its last evaluation
  point and whether its curves had flattened by then (`horizons`, on the per-run mean-over-tasks
  curves);
- where all runs of an algorithm are pooled (robustness, performance profiles, the spread of
  claim C4), a diverged run scores 0 on every task: no better than the random policy;
- a run *failed* if it diverged, or if its mean final score stayed below FAILURE_FRACTION of
  the best mean final score of any run of its environment (it learned next to nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd

from distral_repro.analysis import horizons, stats
from distral_repro.analysis.best_setting import best_setting, late_score
from distral_repro.analysis.runs import PI0_TASK_COLUMN, Run
from distral_repro.analysis.scores import References, TaskReferences

#: Display order of algorithms (SPEC.md §4) and environments; unknown names follow, sorted.
ALGORITHM_ORDER = ("A3C", "A3C_multitask", "A3C_2col", "KL_1col", "KL+ent_1col", "KL_2col", "KL+ent_2col")
BASELINES = ("A3C", "A3C_multitask", "A3C_2col")
DISTRAL_ALGORITHMS = ("KL_1col", "KL+ent_1col", "KL_2col", "KL+ent_2col")
ENV_ORDER = ("maze", "navigation", "lasertag")

#: A run whose mean final score is below this fraction of the best run's of its environment failed.
FAILURE_FRACTION = 0.1
#: Performance profiles: thresholds tau from 0 to at least 1 in this many points.
PROFILE_POINTS = 61
#: Score of a diverged run wherever all runs are pooled (the random policy's).
DIVERGED_SCORE = 0.0
#: The two stages of a study: the grid (every beta x lr x seed at the preset's budget) and the
#: confirmation runs (each env x algo at its best grid setting, fresh seeds, a longer budget).
STAGES = ("grid", "confirmation")
#: The metrics that every table reports, with what they are.
METRICS = {"auc": "AUC", "final": "final", "early_auc": "early AUC"}


def ordered(names: Iterable[str], order: tuple[str, ...]) -> list[str]:
    """Names in the canonical order, unknown ones after it, alphabetically."""
    names = set(names)
    return [n for n in order if n in names] + sorted(names - set(order))


@dataclass(frozen=True)
class Estimate:
    """A point estimate (a mean, an IQM, a probability) with its bootstrap 95% interval."""

    mean: float
    low: float
    high: float

    @classmethod
    def of(cls, scores: np.ndarray) -> "Estimate":
        """Estimate of the mean of a (num_runs x num_tasks) score matrix."""
        if scores.size == 0:
            return cls.missing()
        return cls(*stats.mean_score_ci(scores))

    @classmethod
    def iqm_of(cls, scores: np.ndarray) -> "Estimate":
        """Interquartile mean of a (num_runs x num_tasks) score matrix (rliable)."""
        if scores.size == 0:
            return cls.missing()
        return cls(*stats.iqm_ci(scores))

    @classmethod
    def missing(cls) -> "Estimate":
        return cls(float("nan"), float("nan"), float("nan"))


@dataclass(frozen=True)
class Curve:
    """A mean learning curve at common steps with pointwise intervals; arrays (num_steps,)."""

    step: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


@dataclass(frozen=True)
class Horizon:
    """How far the curves of a best setting went and whether they had flattened (`horizons`)."""

    steps_per_task: int  # the last evaluation step common to the runs
    gains: np.ndarray  # (runs,) each run's fitted gain over the last quarter (mean over tasks)
    flat: bool

    @property
    def mean_gain(self) -> float:
        """Mean gain over runs (NaN when the last quarter has fewer than 2 points)."""
        return float(np.mean(self.gains)) if self.gains.size else float("nan")

    @property
    def phrase(self) -> str:
        """"final (curves flat by N steps per task)" or "at N steps per task"."""
        return horizons.horizon_phrase(self.steps_per_task, self.flat)


@dataclass(frozen=True)
class AlgoResult:
    """One env x algo: its best setting (normalised scores) and the numbers over all its runs."""

    env: str
    algo: str
    beta: float
    lr: float
    best_runs: tuple[Run, ...]  # the non-diverged runs of the best setting
    best_setting_diverged: int
    late_score: float  # the best setting's late score, which chose it (`best_setting`)
    num_runs: int  # all runs of this env x algo (the paper's 36)
    num_diverged: int
    num_failed: int
    scores: dict[str, np.ndarray]  # metric -> (seeds x tasks) normalised scores of best_runs
    mean: dict[str, Estimate]  # metric -> mean score over seeds and tasks
    iqm: dict[str, Estimate]  # metric -> interquartile mean over seeds x tasks
    raw: dict[str, Estimate]  # metric -> mean raw return (the secondary table)
    pi0_final: Estimate | None  # normalised final score of pi_0 acting alone
    pi0_scores: np.ndarray | None
    curve: Curve | None
    pi0_curve: Curve | None
    horizon: Horizon | None  # of the best setting's curves (None without runs or with too few points)
    # the task policies on pi_0's evaluation episodes (None for runs made before they were evaluated)
    pi0_task_curve: Curve | None = None

    @property
    def final(self) -> Estimate:
        return self.mean["final"]

    @property
    def auc(self) -> Estimate:
        return self.mean["auc"]

    @property
    def early_auc(self) -> Estimate:
        return self.mean["early_auc"]

    @property
    def fraction_diverged(self) -> float:
        return self.num_diverged / self.num_runs

    @property
    def fraction_failed(self) -> float:
        return self.num_failed / self.num_runs


def raw_matrix(runs: Iterable[Run], metric: str) -> np.ndarray:
    """(num_runs x num_tasks) raw returns of a metric (final, auc, early_auc, pi0_final)."""
    rows = [run.returns(metric) for run in runs]
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


def task_policy_evaluations(pi0_progress: pd.DataFrame) -> pd.DataFrame:
    """pi0_eval.csv's task-policy returns as a curve frame (step, task, episode_return)."""
    return pi0_progress[["step", "task", PI0_TASK_COLUMN]].rename(columns={PI0_TASK_COLUMN: "episode_return"})


def curve_of(frames: list[pd.DataFrame], tasks: tuple[int, ...], refs: TaskReferences | None = None) -> Curve | None:
    """Mean curve over runs and tasks with bootstrap intervals, of normalised scores when
    `refs` are given (else raw returns); None without runs."""
    if not frames:
        return None
    steps, values = common_curves(frames, tasks)  # (runs, tasks, steps)
    if refs is not None:
        values = normalise_curves(values, refs)
    mean, low, high = stats.curve_ci(values)
    return Curve(steps, mean, low, high)


def normalise_curves(values: np.ndarray, refs: TaskReferences) -> np.ndarray:
    """(runs, tasks, steps) returns -> normalised scores (tasks on axis 1)."""
    return np.swapaxes(refs.normalise(np.swapaxes(values, 1, 2)), 1, 2)


def horizon_of(frames: list[pd.DataFrame], tasks: tuple[int, ...], refs: TaskReferences) -> Horizon | None:
    """The horizon of the runs' curves: their last common step and whether the per-run
    mean-over-tasks normalised curves had flattened over the last quarter (`horizons.flattened`).
    None without runs; with fewer than 2 points in the last quarter the gains are NaN and the
    curves count as not flattened (not shown to be flat)."""
    if not frames:
        return None
    steps, values = common_curves(frames, tasks)  # (runs, tasks, steps)
    per_run = normalise_curves(values, refs).mean(axis=1)  # (runs, steps)
    try:
        gains = horizons.last_quarter_gain(steps, per_run)
    except ValueError:  # too few points to fit a slope: not shown to have flattened
        return Horizon(int(steps[-1]), np.full(per_run.shape[0], np.nan), False)
    return Horizon(int(steps[-1]), gains, bool(np.isfinite(gains).any()) and horizons.flattened(gains))


class Study:
    """All tables of one set of runs, computed once and shared by the CLI and the figures.

    Args:
        runs: validated runs.
        references: the reference scores; every env of the runs must have them
            (MissingReferenceError naming the family otherwise).
        stage: which stage of the study the runs are (STAGES), said in tables and claims.
        scale_of: a study whose normalisation this one reuses for the envs it has (the
            confirmation stage is scored on the grid's scale, "best in grid" included).
    """

    def __init__(self, runs: list[Run], references: References, stage: str = "grid",
                 scale_of: "Study | None" = None):
        if not runs:
            raise ValueError("no runs given")
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; valid: {', '.join(STAGES)}")
        self.runs = runs
        self.stage = stage
        self.envs = ordered({r.env for r in runs}, ENV_ORDER)
        self.refs: dict[str, TaskReferences] = {}
        for env in self.envs:
            in_env = [r for r in runs if r.env == env]
            refs = references.check(env, in_env[0].tasks, in_env[0].preset)
            if scale_of is not None and env in scale_of.refs:
                self.refs[env] = scale_of.refs[env]
                continue
            ok = [r for r in in_env if not r.diverged]
            best = raw_matrix(ok, "final").max(axis=0) if ok else np.full(len(refs.tasks), np.nan)
            self.refs[env] = refs.with_best_in_grid(best)
        self._final_scores = {id(r): self.run_scores(r, "final") for r in runs}
        with np.errstate(invalid="ignore"):  # a last quarter without episodes: NaN, as select.py
            self._late_scores = {id(r): float("nan") if r.diverged else
                                 late_score(r.progress, self.refs[r.env].random, self.refs[r.env].upper) for r in runs}
        self.best_final = {
            env: max([float(np.mean(self._final_scores[id(r)])) for r in runs if r.env == env and not r.diverged],
                     default=float("nan"))
            for env in self.envs
        }
        self.results: dict[tuple[str, str], AlgoResult] = {}
        for env in self.envs:
            for algo in ordered({r.algo for r in runs if r.env == env}, ALGORITHM_ORDER):
                self.results[(env, algo)] = self._algo_result(env, algo)

    def algos(self, env: str) -> list[str]:
        return [algo for (e, algo) in self.results if e == env]

    def run_scores(self, run: Run, metric: str) -> np.ndarray:
        """(num_tasks,) normalised scores of one run (NaN for a diverged run)."""
        return self.refs[run.env].normalise(run.returns(metric))

    def score_matrix(self, runs: Iterable[Run], metric: str) -> np.ndarray:
        """(num_runs x num_tasks) normalised scores of the given (non-diverged) runs."""
        runs = list(runs)
        if not runs:
            return np.empty((0, 0))
        return np.array([self.run_scores(r, metric) for r in runs])

    def failed(self, run: Run) -> bool:
        """Diverged, or mean final score below FAILURE_FRACTION of the env's best run."""
        if run.diverged:
            return True
        best = self.best_final[run.env]
        if not np.isfinite(best) or best <= 0:
            return False  # no run beat the random policy: none can be told apart as failed
        return float(np.mean(self._final_scores[id(run)])) < FAILURE_FRACTION * best

    def _algo_result(self, env: str, algo: str) -> AlgoResult:
        runs = [r for r in self.runs if r.env == env and r.algo == algo]
        by_setting: dict[tuple[float, float], list[Run]] = {}
        for run in runs:
            by_setting.setdefault(run.setting, []).append(run)

        # The rule of the selection (select.py): fewest diverged, then the best late score.
        (beta, lr), late = best_setting(runs, [self._late_scores[id(r)] for r in runs])
        best_all = sorted(by_setting[(beta, lr)], key=lambda r: r.seed)
        best = tuple(r for r in best_all if not r.diverged)
        refs = self.refs[env]
        scores = {m: self.score_matrix(best, m) for m in METRICS}
        with_pi0 = bool(best) and all(r.pi0_final_return is not None for r in best)
        with_pi0_curve = bool(best) and all(r.pi0_progress is not None for r in best)
        pi0_scores = self.score_matrix(best, "pi0_final") if with_pi0 else None
        return AlgoResult(
            env=env,
            algo=algo,
            beta=beta,
            lr=lr,
            best_runs=best,
            best_setting_diverged=len(best_all) - len(best),
            late_score=late,
            num_runs=len(runs),
            num_diverged=sum(r.diverged for r in runs),
            num_failed=sum(self.failed(r) for r in runs),
            scores=scores,
            mean={m: Estimate.of(scores[m]) for m in METRICS},
            iqm={m: Estimate.iqm_of(scores[m]) for m in METRICS},
            raw={m: Estimate.of(raw_matrix(best, m)) for m in METRICS},
            pi0_final=Estimate.of(pi0_scores) if with_pi0 else None,
            pi0_scores=pi0_scores,
            curve=curve_of([r.progress for r in best], refs.tasks, refs),
            pi0_curve=curve_of([r.pi0_progress for r in best], refs.tasks, refs) if with_pi0_curve else None,
            horizon=horizon_of([r.progress for r in best], refs.tasks, refs),
            pi0_task_curve=curve_of([task_policy_evaluations(r.pi0_progress) for r in best], refs.tasks, refs)
            if with_pi0_curve and all(PI0_TASK_COLUMN in r.pi0_progress.columns for r in best) else None,
        )

    # ---- all runs pooled: robustness, profiles -------------------------------------------

    def all_run_scores(self, env: str, algo: str, metric: str = "final") -> np.ndarray:
        """(num_runs x num_tasks) scores of every run of env x algo; diverged runs score 0."""
        runs = [r for r in self.runs if r.env == env and r.algo == algo]
        return np.array(
            [np.full(len(r.tasks), DIVERGED_SCORE) if r.diverged else self.run_scores(r, metric) for r in runs]
        )

    def normalised_finals(self, env: str, algo: str) -> np.ndarray:
        """(num_runs,) mean final score over tasks of every run of env x algo (diverged = 0)."""
        return self.all_run_scores(env, algo).mean(axis=1)

    def robustness_iqr(self, env: str, algo: str) -> float:
        """Interquartile range of the mean final scores of all runs (lower = flatter)."""
        return stats.interquartile_range(self.normalised_finals(env, algo))

    def sorted_final_scores(self, env: str, algo: str) -> tuple[np.ndarray, int]:
        """Robustness data: mean final scores of all non-diverged runs, best first, and the
        number of diverged runs (failures that have no final return)."""
        runs = [r for r in self.runs if r.env == env and r.algo == algo]
        finals = np.sort([float(np.mean(self._final_scores[id(r)])) for r in runs if not r.diverged])[::-1]
        return finals, sum(r.diverged for r in runs)

    def profile_taus(self, env: str) -> np.ndarray:
        """Thresholds of the performance profiles of env: from min(0, lowest) to max(1, highest) score."""
        pooled = np.concatenate([self.all_run_scores(env, a).ravel() for a in self.algos(env)])
        return np.linspace(min(0.0, float(pooled.min())), max(1.0, float(pooled.max())), PROFILE_POINTS)

    def performance_profile(self, env: str, algo: str) -> Curve:
        """Fraction of runs x tasks with final score above tau (all runs), with 95% bands."""
        taus = self.profile_taus(env)
        mean, low, high = stats.performance_profile_ci(self.all_run_scores(env, algo), taus)
        return Curve(taus, mean, low, high)

    def probability_of_improvement(self, env: str, x: str, y: str, metric: str) -> Estimate:
        """P(X > Y) on a metric at both algorithms' best settings (rliable; NaN if absent)."""
        if (env, x) not in self.results or (env, y) not in self.results:
            return Estimate.missing()
        a, b = self.results[(env, x)].scores[metric], self.results[(env, y)].scores[metric]
        if a.size == 0 or b.size == 0:
            return Estimate.missing()
        return Estimate(*stats.probability_of_improvement_ci(a, b))

    # ---- tables -------------------------------------------------------------------------

    def all_runs_table(self) -> pd.DataFrame:
        """One row per run: normalised scores, then the raw mean returns."""
        rows = []
        for run in self.runs:
            row = {
                "env": run.env, "algo": run.algo, "beta": run.beta, "lr": run.lr, "seed": run.seed,
                "status": run.status, "failed": self.failed(run),
            }
            metrics = [*METRICS, "pi0_final"] if run.pi0_final_return is not None else list(METRICS)
            row.update({f"{m}_score": float(np.mean(self.run_scores(run, m))) for m in metrics})
            row["late_score"] = self._late_scores[id(run)]
            row.update({f"{m}_return": float(np.mean(run.returns(m))) for m in metrics})
            row.update(upper_reference=self.refs[run.env].source, diverged_at_step=run.diverged_at_step,
                       run_dir=run.run_dir)
            rows.append(row)
        return _sort(pd.DataFrame(rows), ["beta", "lr", "seed"])

    def settings_table(self) -> pd.DataFrame:
        """One row per env x algo x (beta, lr): means over its non-diverged runs and tasks."""
        runs = self.all_runs_table()
        grouped = runs.groupby(["env", "algo", "beta", "lr"], sort=False)
        aggregations = {
            "runs": ("seed", "size"),
            "diverged": ("status", lambda s: int((s == "diverged").sum())),
            "failed": ("failed", "sum"),
        }
        for metric in METRICS:
            aggregations[f"{metric}_score"] = (f"{metric}_score", "mean")
        aggregations["late_score"] = ("late_score", "mean")  # what chose the best setting
        for metric in ("final", "auc"):
            aggregations[f"{metric}_return"] = (f"{metric}_return", "mean")
        aggregations["upper_reference"] = ("upper_reference", "first")
        table = grouped.agg(**aggregations).reset_index()
        table["best"] = [
            (self.results[(e, a)].beta, self.results[(e, a)].lr) == (b, lr)
            for e, a, b, lr in zip(table["env"], table["algo"], table["beta"], table["lr"])
        ]
        return _sort(table, ["beta", "lr"])

    def best_settings_table(self) -> pd.DataFrame:
        """One row per env x algo at its best (beta, lr): normalised scores with 95% CIs."""
        rows = []
        for (env, algo), res in self.results.items():
            row = {"env": env, "algo": algo, "beta": res.beta, "lr": res.lr, "seeds": len(res.best_runs),
                   "best_setting_diverged": res.best_setting_diverged}
            for metric in METRICS:
                row.update(_estimate_columns(f"{metric}_score", res.mean[metric]))
            row.update(horizon_columns(res.horizon))
            row["late_score"] = res.late_score
            for metric in ("final", "auc"):
                row.update(_estimate_columns(f"{metric}_iqm", res.iqm[metric]))
            row.update(_estimate_columns("pi0_final_score", res.pi0_final or Estimate.missing()))
            row.update(
                {
                    "runs": res.num_runs,
                    "diverged": res.num_diverged,
                    "failed": res.num_failed,
                    "fraction_diverged": res.fraction_diverged,
                    "fraction_failed": res.fraction_failed,
                    "robustness_iqr": self.robustness_iqr(env, algo),
                    "upper_reference": self.refs[env].source,
                }
            )
            rows.append(row)
        return pd.DataFrame(rows)

    def best_settings_returns_table(self) -> pd.DataFrame:
        """The secondary table: raw mean returns at the best settings, with 95% CIs."""
        rows = []
        for (env, algo), res in self.results.items():
            row = {"env": env, "algo": algo, "beta": res.beta, "lr": res.lr, "seeds": len(res.best_runs)}
            for metric in METRICS:
                row.update(_estimate_columns(f"{metric}_return", res.raw[metric]))
            refs = self.refs[env]
            row.update(random_return=float(refs.random.mean()), upper_return=float(refs.upper.mean()),
                       upper_reference=refs.source)
            rows.append(row)
        return pd.DataFrame(rows)

    def probability_of_improvement_table(self) -> pd.DataFrame:
        """P(X > Y) for each Distral variant X over each baseline Y, per env and metric."""
        rows = []
        for env in self.envs:
            for x in [a for a in DISTRAL_ALGORITHMS if (env, a) in self.results]:
                for y in [b for b in BASELINES if (env, b) in self.results]:
                    for metric in METRICS:
                        est = self.probability_of_improvement(env, x, y, metric)
                        rows.append({"env": env, "algo": x, "baseline": y, "metric": metric,
                                     **_estimate_columns("probability", est)})
        columns = ["env", "algo", "baseline", "metric", "probability", "probability_ci_low", "probability_ci_high"]
        return pd.DataFrame(rows, columns=columns)

    def performance_profiles_table(self) -> pd.DataFrame:
        """Tidy performance profiles of every env x algo over all its runs: tau, fraction, band."""
        frames = []
        for (env, algo) in self.results:
            profile = self.performance_profile(env, algo)
            frames.append(pd.DataFrame({"env": env, "algo": algo, "tau": profile.step, "fraction": profile.mean,
                                        "ci_low": profile.low, "ci_high": profile.high}))
        return pd.concat(frames, ignore_index=True)

    def learning_curves_table(self) -> pd.DataFrame:
        """Tidy normalised-score curves of every env x algo at its best setting (x = step)."""
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
                        "mean_score": res.curve.mean,
                        "ci_low": res.curve.low,
                        "ci_high": res.curve.high,
                        "beta": res.beta,
                        "lr": res.lr,
                    }
                )
            )
        columns = ["env", "algo", "step", "mean_score", "ci_low", "ci_high", "beta", "lr"]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def horizon_columns(horizon: Horizon | None) -> dict:
    """The horizon of a final score: steps per task, the mean gain over the last quarter, flat or not, in words."""
    if horizon is None:
        return {"steps_per_task": np.nan, "last_quarter_gain": np.nan, "flattened": None, "horizon": "no curve"}
    return {"steps_per_task": horizon.steps_per_task, "last_quarter_gain": horizon.mean_gain,
            "flattened": horizon.flat, "horizon": horizon.phrase}


def _estimate_columns(name: str, est: Estimate) -> dict:
    return {name: est.mean, f"{name}_ci_low": est.low, f"{name}_ci_high": est.high}


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
