"""Verdicts on the paper's claims C1..C7 (SPEC.md §5) from their pre-registered primary tests.

What each claim compares is written in advance in config/claims.yaml (`preregistration`):
at most two primary tests per claim, each a score, a stage and comparisons "X beats Y" in
named environments, with "Distral" named there (the paper's own best, KL+ent_2col), never
chosen on the runs it is tested on. Every test works on runs (a run's score is its mean over
tasks; `stats`), gives two one-sided p-values (for and against the claim), combined over its
comparisons (`stats.all_parts`) into one two-sided p-value. The primary tests of all claims
are corrected together (Holm); a test is decisive when its adjusted p-value is at most alpha,
and its direction makes it *supported* or *contradicted*; otherwise *not resolved*. A claim
is supported when all its primary tests are, contradicted when any one is, else not resolved.
Missing data (an environment or algorithm without runs, one seed) leave a test not resolved
with the reason. Each test carries its effect sizes with 95% intervals, its measured
false-verdict rates and its power (`calibration`). Everything else in the tables is
exploratory and never decides a verdict.

A study has one or two stages (`Stages`): the grid (every beta x lr x seed at the preset's
budget) and, where configured, the confirmation runs (each env x algorithm at its best grid
setting, fresh seeds, a longer budget); the A/A check (`Stages.aa`) compares two disjoint seed
sets of one algorithm at one setting as two algorithms, through the same machinery. A study whose
settings another study chose (the long-horizon study, config/long_horizon.yaml) has confirmation
runs and no grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as sps

from distral_repro.analysis import calibration, horizons, stats
from distral_repro.analysis.preregistration import SCORES, Preregistration, PrimaryTest
from distral_repro.analysis.runs import EARLY_FRACTION, PI0_TASK_COLUMN, GridworldRun
from distral_repro.analysis.stats import NOT_RESOLVED
from distral_repro.analysis.tables import FAILURE_FRACTION, METRICS, Estimate, Study, markdown_table

STATEMENTS = {
    "C1": "Distral learns faster and reaches higher final returns than all three A3C baselines on Maze and Navigation.",
    "C2": "Two-column variants learn faster than one-column variants.",
    "C3": "Without entropy (KL_*) learning is faster early but final returns are lower than with KL+ent_*.",
    "C4": "A3C_multitask and A3C_2col are unstable (some runs fail or diverge); Distral's sorted final-performance curve is flatter.",
    "C5": "On Laser-tag separate A3C is the strongest baseline and Distral still beats it.",
    "C6": "The distilled pi_0 alone performs well on the Maze tasks.",
    "C7": "Grid world: Distral soft-Q learns faster than separate soft-Q per task.",
}
ONE_SEED = "one run: no run-to-run variation to test against"


@dataclass
class Stages:
    """The grid and, where configured, the confirmation runs of one study, and the A/A pair."""

    grid: Study | None  # None: a study without a grid (its settings chosen by another study's)
    confirmation: Study | None = None
    aa: Study | None = None  # two algorithm labels: two seed sets of one algorithm at one setting

    def late(self, env: str) -> Study | None:
        """The runs behind env's learning curves and final returns: its confirmation runs, else the grid."""
        if self.confirmation is not None and env in self.confirmation.envs:
            return self.confirmation
        return self.grid

    def study(self, stage: str, env: str) -> Study | None:
        return {"grid": self.grid, "confirmation": self.confirmation, "late": self.late(env), "aa": self.aa}[stage]

    def names(self) -> set[str]:
        return ({"grid"} if self.grid else set()) | {"late", "gridworld"} | (
            {"confirmation"} if self.confirmation else set()) | ({"aa"} if self.aa else set())

    @property
    def envs(self) -> list[str]:
        """The environments with runs: the grid's (every confirmation env has grid runs), else the confirmation runs'."""
        return (self.grid or self.confirmation).envs



def _shown_path(source: str) -> str:
    """The claims file as claims.md names it: relative to the working directory, else to the
    repository (a study of its own directory, e.g. studies/long_horizon), else its name (no host paths)."""
    from pathlib import Path

    path = Path(source).resolve()
    for base in (Path.cwd(), Path(__file__).parents[2]):
        try:
            return path.relative_to(base.resolve()).as_posix()
        except ValueError:
            continue
    return path.name

def as_stages(study: Study | Stages) -> Stages:
    """A single Study is a study of one stage, the grid."""
    return study if isinstance(study, Stages) else Stages(study)


@dataclass
class Comparison:
    """One comparison of a primary test: its one-sided p-values and its effect sizes."""

    description: str
    p_for: float = float("nan")
    p_against: float = float("nan")
    numbers: str = ""
    missing: str | None = None


@dataclass
class TestResult:
    """A primary test evaluated: its comparisons, p-values, verdict, calibration and power."""

    test: PrimaryTest
    stage_used: str
    comparisons: list[Comparison] = field(default_factory=list)
    p_for: float = float("nan")
    p_against: float = float("nan")
    p: float = float("nan")
    direction: int = 0
    p_adjusted: float = float("nan")
    verdict: str = NOT_RESOLVED
    false_supported: float = float("nan")
    false_contradicted: float = float("nan")
    power: str = "not computed"
    seeds_needed: int | None = None
    horizon: str = ""  # final-score tests: per env, its steps per task and whether the curves had flattened
    # What the calibration needs (kept out of the tables).
    _calibrate: object = None

    @property
    def reason(self) -> str:
        missing = [c.missing for c in self.comparisons if c.missing]
        if missing:
            return "; ".join(missing)
        if not np.isfinite(self.p_adjusted):
            return "not tested"
        if self.verdict == NOT_RESOLVED:
            return f"adjusted p = {self.p_adjusted:.3g} > alpha"
        return f"adjusted p = {self.p_adjusted:.3g}"

    @property
    def label(self) -> str:
        """The test's name, with its horizon for a final-score test ("final score: maze at 128,000
        steps per task ...")."""
        return f"{self.test.name}: {self.horizon}" if self.horizon else self.test.name

    @property
    def headline(self) -> Comparison | None:
        """The comparison that binds: the weakest for the claim (largest p for), or, when the
        evidence is against it, the strongest against."""
        tested = [c for c in self.comparisons if c.missing is None]
        if not tested:
            return None
        if self.direction < 0:
            return min(tested, key=lambda c: c.p_against)
        return max(tested, key=lambda c: c.p_for)


@dataclass
class Claim:
    claim: str
    statement: str
    tests: list[TestResult]

    @property
    def verdict(self) -> str:
        return stats.combine_primaries([t.verdict for t in self.tests])


def _fmt(triple) -> str:
    point, low, high = triple
    interval = f" [{low:.3g}, {high:.3g}]" if np.isfinite(low) else " [no interval]"
    return f"{point:.3g}{interval}"


# ---- horizons of final scores ------------------------------------------------------------------------


def horizon_state(study: Study | None, env: str, algos) -> tuple[int, bool, str] | None:
    """The horizon of a final-score result in env, from the compared algorithms' best-setting
    curves: the steps per task, whether every curve had flattened (`horizons.flattened`), and the
    curves still rising with their mean gain over the last quarter ("" when all are flat).
    None without runs."""
    found = {a: study.results[(env, a)].horizon for a in algos
             if study is not None and (env, a) in study.results and study.results[(env, a)].horizon is not None}
    if not found:
        return None
    rising = [f"{a} {h.mean_gain:+.2f}" if np.isfinite(h.mean_gain) else f"{a} untested (too few points)"
              for a, h in found.items() if not h.flat]
    return (max(h.steps_per_task for h in found.values()), all(h.flat for h in found.values()),
            f"not flattened: {', '.join(rising)} over the last quarter" if rising else "")


# ---- one comparison per score ------------------------------------------------------------------------


def _location(study: Study | None, env: str, x: str, y: str, metric: str, label: str) -> tuple[Comparison, tuple]:
    """X beats Y on a run score (Welch); returns the comparison and (x matrix, y matrix) or None."""
    desc = f"{env} {label}: {x} > {y}"
    if study is None or env not in study.envs:
        return Comparison(desc, missing=f"{env}: no runs in this stage"), None
    for algo in (x, y):
        if (env, algo) not in study.results or study.results[(env, algo)].scores[metric].size == 0:
            return Comparison(desc, missing=f"{env}: no runs of {algo}"), None
    mx, my = study.results[(env, x)].scores[metric], study.results[(env, y)].scores[metric]
    return _location_numbers(desc, mx, my, x, y), (mx, my)


def _location_numbers(desc: str, mx: np.ndarray, my: np.ndarray, x: str, y: str) -> Comparison:
    sx, sy = stats.run_scores(mx), stats.run_scores(my)
    for algo, s in ((x, sx), (y, sy)):
        if s.size < 2:
            return Comparison(desc, missing=f"{desc.split(':')[0]} {algo}: {ONE_SEED}")
    p_for, p_against = (float(p) for p in stats.welch_one_sided(sx, sy))
    poi = stats.run_probability_of_improvement_ci(sx, sy)
    diff = stats.mean_difference_ci(sx, sy)
    numbers = (f"P(run of {x} > run of {y}) = {_fmt(poi)}; score difference {_fmt(diff)} "
               f"({sx.mean():.3g} vs {sy.mean():.3g}; {sx.size} vs {sy.size} runs); "
               f"one-sided p {p_for:.3g} for, {p_against:.3g} against")
    return Comparison(desc, p_for, p_against, numbers)


def _failed(stages: Stages, test: PrimaryTest, x: str, y: str):
    desc = f"{', '.join(test.envs)} pooled: failed-run fraction {x} > {y}"
    flags = {}
    for algo in (x, y):
        values = []
        for env in test.envs:
            s = stages.study(test.stage, env)
            if s is None or (env, algo) not in s.results:
                return Comparison(desc, missing=f"{env}: no runs of {algo}"), None
            if s.results[(env, algo)].num_runs < 2:
                return Comparison(desc, missing=f"{env} {algo}: {ONE_SEED}"), None
            values += [s.failed(r) for r in s.runs if r.env == env and r.algo == algo]
        flags[algo] = np.array(values, dtype=float)
    fx, fy = flags[x], flags[y]
    counts = (int(fx.sum()), fx.size, int(fy.sum()), fy.size)
    p_for, p_against = (float(p) for p in stats.fisher_one_sided(*counts))
    diff = stats.fraction_difference_ci(fx, fy)
    numbers = (f"failed {counts[0]}/{counts[1]} ({fx.mean():.1%}) vs {counts[2]}/{counts[3]} ({fy.mean():.1%}); "
               f"difference {_fmt(diff)}; one-sided p {p_for:.3g} for, {p_against:.3g} against")
    return Comparison(desc, p_for, p_against, numbers), counts


def _spread(stages: Stages, test: PrimaryTest, env: str, x: str, y: str):
    desc = f"{env}: spread (IQR of all runs' mean final scores) {x} > {y}"
    study = stages.study(test.stage, env)
    if study is None or env not in study.envs:
        return Comparison(desc, missing=f"{env}: no runs in this stage"), None
    for algo in (x, y):
        if (env, algo) not in study.results:
            return Comparison(desc, missing=f"{env}: no runs of {algo}"), None
    vx, vy = study.normalised_finals(env, x), study.normalised_finals(env, y)
    if min(vx.size, vy.size) < stats.MIN_SPREAD_RUNS:
        return Comparison(desc, missing=f"{env}: fewer than {stats.MIN_SPREAD_RUNS} runs: no spread to compare"), None
    p_for, p_against = (float(p) for p in stats.brown_forsythe_one_sided(vx, vy))
    diff = stats.iqr_difference_ci(vx, vy)
    numbers = (f"IQR {stats.interquartile_range(vx):.3g} vs {stats.interquartile_range(vy):.3g} "
               f"({vx.size} vs {vy.size} runs); difference {_fmt(diff)}; Brown-Forsythe one-sided p "
               f"{p_for:.3g} for, {p_against:.3g} against")
    return Comparison(desc, p_for, p_against, numbers), (vx, vy)


def pi0_and_task_scores(study: Study, env: str, algo: str) -> tuple[np.ndarray, np.ndarray, float] | str:
    """(n,) run scores of pi_0 acting alone and of the task policies on the same evaluation
    episodes at pi_0's last evaluation step (pi0_eval.csv's episode_return and
    task_policy_return), normalised and averaged over tasks; and the step. A string says why
    there is nothing to compare (no pi_0 evaluations, or runs made before the task policies
    were evaluated on pi_0's episodes: their training-episode returns are not comparable)."""
    res = study.results.get((env, algo))
    if res is None or not res.best_runs or any(r.pi0_progress is None or r.pi0_progress.empty for r in res.best_runs):
        return f"{env}: {algo} has no pi_0 evaluations"
    if any(PI0_TASK_COLUMN not in r.pi0_progress.columns for r in res.best_runs):
        return (f"{env}: {algo}'s runs predate the matched evaluation (pi0_eval.csv has no {PI0_TASK_COLUMN}): "
                "pi_0's evaluation episodes and the task policies' training episodes are not comparable")
    refs = study.refs[env]
    pi0, task, step = [], [], float("nan")
    for run in res.best_runs:
        last = run.pi0_progress["step"].max()
        at = run.pi0_progress[run.pi0_progress["step"] == last].set_index("task").reindex(run.tasks)
        pi0.append(float(np.mean(refs.normalise(at["episode_return"].to_numpy(float)))))
        task.append(float(np.mean(refs.normalise(at[PI0_TASK_COLUMN].to_numpy(float)))))
        step = float(last)
    return np.array(pi0), np.array(task), step


def _pi0(stages: Stages, test: PrimaryTest, env: str, algo: str):
    desc = f"{env}: pi_0 of {algo} alone > {test.share:g} x its task policies"
    study = stages.study(test.stage, env)
    if study is None or env not in study.envs or (env, algo) not in study.results:
        return Comparison(desc, missing=f"{env}: no runs of {algo}"), None
    scores = pi0_and_task_scores(study, env, algo)
    if isinstance(scores, str):
        return Comparison(desc, missing=scores), None
    pi0, task, step = scores
    if pi0.size < 2:
        return Comparison(desc, missing=f"{env} {algo}: {ONE_SEED}"), None
    d = pi0 - test.share * task
    p_for, p_against = (float(p) for p in stats.one_sample_one_sided(d))
    numbers = (f"pi_0 {pi0.mean():.3g} vs task policies {task.mean():.3g} on the same evaluation episodes at step "
               f"{step:.0f} ({pi0.size} runs, "
               f"{study.stage}); ratio {_fmt(stats.ratio_of_means_ci(pi0, task))}; pi_0 - {test.share:g} x task "
               f"policies {_fmt(stats.mean_ci(d))}; P(run's pi_0 > {test.share:g} x its task policies) "
               f"{float(np.mean(d > 0) + 0.5 * np.mean(d == 0)):.3g}; one-sided p {p_for:.3g} for, "
               f"{p_against:.3g} against")
    return Comparison(desc, p_for, p_against, numbers), d


def gridworld_matrix(runs: list[GridworldRun], method: str, field_name: str) -> np.ndarray:
    """(seeds x tasks) of a per-task field for the ok runs of one method."""
    ok = [r for r in runs if r.method == method and r.status == "ok"]
    return np.array([getattr(r, field_name) for r in ok]) if ok else np.empty((0, 0))


def gridworld_estimates(runs: list[GridworldRun], method: str, field_name: str) -> Estimate:
    """Mean over seeds and tasks of a per-task field for the ok runs of one method."""
    return Estimate.of(gridworld_matrix(runs, method, field_name))


# ---- a primary test --------------------------------------------------------------------------------


def aa_pair(stages: Stages) -> tuple[str, str, str] | None:
    """(env, first label, second label) of the A/A study."""
    if stages.aa is None:
        return None
    env = stages.aa.envs[0]
    first, second = stages.aa.algos(env)[:2]
    return env, first, second


def evaluate_test(test: PrimaryTest, stages: Stages, gridworld: list[GridworldRun]) -> TestResult:
    """Run one primary test (unadjusted): comparisons, combined p-values, calibration inputs."""
    result = TestResult(test, test.stage)
    design_runs, design_parts, groups = {}, [], {}
    other = []  # calibration data of the count, spread and paired tests
    if test.score in ("auc", "final", "early_auc"):
        pairs = [(e, x, y) for e in test.envs for x, y in test.compare]
        if test.stage == "aa":
            pair = aa_pair(stages)
            pairs = [] if pair is None else [pair]
            if pair is None:
                result.comparisons.append(Comparison("A/A", missing="no A/A runs in this study"))
        for env, x, y in pairs:
            study = stages.study(test.stage, env)
            label = f"{METRICS[test.score]} ({study.stage if study else test.stage})"
            state = horizon_state(study, env, (x, y)) if test.score == "final" else None
            if state is not None:  # a final score says its horizon
                steps, flat, _ = state
                label = (f"{METRICS[test.score]} ({study.stage}, curves flat by {steps:,} steps per task)" if flat
                         else f"{label} {horizons.horizon_phrase(steps, flat)}")
            comparison, matrices = _location(study, env, x, y, test.score, label.rstrip())
            result.comparisons.append(comparison)
            if matrices is not None and comparison.missing is None:
                design_parts.append((env, x, y))
                for algo, m in zip((x, y), matrices):
                    design_runs[(env, algo)] = m.shape[0]
                    groups.setdefault(env, {})[algo] = m
        if test.score == "final":
            envs = list(dict.fromkeys(e for e, _, _ in pairs))
            states = [(e, horizon_state(stages.study(test.stage, e), e,
                                        list(dict.fromkeys(a for en, x, y in pairs if en == e for a in (x, y))))) for e in envs]
            result.horizon = "; ".join(f"{e} {horizons.horizon_phrase(st[0], st[1])}" + (f" ({st[2]})" if st[2] else "")
                                       for e, st in states if st is not None)
        stages_used = {stages.study(test.stage, e).stage for e, _, _ in pairs if stages.study(test.stage, e)}
        result.stage_used = ", ".join(sorted(stages_used)) or test.stage
        result._calibrate = ("location", calibration.Design(tuple(design_parts), design_runs), groups)
    elif test.score == "gridworld_auc":
        for x, y in test.compare:
            mx, my = (gridworld_matrix(gridworld, m, "auc_return") for m in (x, y))
            desc = f"grid world AUC: {x} > {y}"
            if mx.size == 0 or my.size == 0:
                result.comparisons.append(Comparison(desc, missing=f"grid world: runs of {x} and {y} needed"))
                continue
            result.comparisons.append(_location_numbers(desc, mx, my, x, y))
            if result.comparisons[-1].missing is None:
                design_parts.append(("gridworld", x, y))
                design_runs.update({("gridworld", x): mx.shape[0], ("gridworld", y): my.shape[0]})
                groups.setdefault("gridworld", {}).update({x: mx, y: my})
        result._calibrate = ("location", calibration.Design(tuple(design_parts), design_runs), groups)
    elif test.score == "failed_fraction":
        for x, y in test.compare:
            comparison, counts = _failed(stages, test, x, y)
            result.comparisons.append(comparison)
            if counts is not None:
                other.append(counts)
        result._calibrate = ("failed", other)
    elif test.score == "final_spread":
        for env in test.envs:
            for x, y in test.compare:
                comparison, values = _spread(stages, test, env, x, y)
                result.comparisons.append(comparison)
                if values is not None:
                    other.append(values)
        result._calibrate = ("spread", other)
    elif test.score == "pi0_share":
        for env in test.envs:
            for (x,) in test.compare:
                comparison, d = _pi0(stages, test, env, x)
                result.comparisons.append(comparison)
                if d is not None:
                    other.append(d)
                    study = stages.study(test.stage, env)
                    result.stage_used = study.stage
        result._calibrate = ("paired", other)
    else:  # the preregistration checked the score
        raise ValueError(f"unknown score {test.score!r}")
    if result.comparisons and all(c.missing is None for c in result.comparisons):
        p_for, p_against = stats.all_parts([c.p_for for c in result.comparisons],
                                           [c.p_against for c in result.comparisons])
        result.p_for, result.p_against = float(p_for), float(p_against)
        p, direction = stats.two_sided(p_for, p_against)
        result.p, result.direction = float(p), int(direction)
    return result


def _probability(p: float, paired: bool = False) -> str:
    """P(X > Y) near 1 with the shift it means, in sds of a run score (of a paired difference)."""
    shift = sps.norm.ppf(p) * (1.0 if paired else np.sqrt(2.0))
    shown = f"{p:.4g}" if p < 0.9999 else "0.9999"
    return f"{shown} (a shift of {shift:.2g} sd)"


def calibrate(result: TestResult, alpha: float, level: float) -> None:
    """Fill in the test's false-verdict rates (under no difference, at level alpha) and its power
    (smallest detectable P(X > Y) and seeds needed for TARGET_PROBABILITY, at `level`)."""
    if not np.isfinite(result.p):
        return
    kind = result._calibrate[0]
    if kind == "location":
        _, design, groups = result._calibrate
        noise = {env: calibration.fit_noise(list(by_algo.values())) for env, by_algo in groups.items()}
        if any(n is None for n in noise.values()):
            return
        result.false_supported, result.false_contradicted = calibration.location_false_verdict_rates(
            design, noise, alpha)
        detectable = calibration.smallest_detectable(lambda p: calibration.location_power(design, noise, p, level))
        result.seeds_needed = calibration.seeds_needed(
            lambda n: calibration.location_power(design, noise, calibration.TARGET_PROBABILITY, level, runs=n))
        seeds = sorted(set(design.runs.values()))
        iccs = ", ".join(f"{env} {m.icc:.2f}" for env, m in noise.items())
        result.power = (f"80% power for P(X > Y) >= {_probability(detectable)} at {'/'.join(map(str, seeds))} seeds"
                        if np.isfinite(detectable) else
                        f"80% power for no P(X > Y) below {_probability(calibration.PROBABILITY_GRID[-1])} at "
                        f"{'/'.join(map(str, seeds))} seeds") + f" (level {level:.3g}; within-run task correlation {iccs})"
    elif kind == "failed":
        counts = result._calibrate[1]
        result.false_supported, result.false_contradicted = calibration.failed_fraction_false_verdict_rates(
            counts, alpha)
        base = max(fy / ny for _, _, fy, ny in counts)
        grid = np.round(np.arange(0.0, 1.0001, 0.01), 2)
        grid = grid[grid > base]
        smallest = calibration.smallest_on_grid(lambda q: calibration.failed_fraction_power(counts, q, level), grid)
        runs = "/".join(str(nx) for _, nx, _, _ in counts)
        result.power = (f"80% power for a failed fraction >= {smallest:.2f} against {base:.3f} at {runs} runs "
                        f"(level {level:.3g})" if np.isfinite(smallest) else
                        f"80% power for no failed fraction at {runs} runs (level {level:.3g})")
    elif kind == "spread":
        parts = result._calibrate[1]
        result.false_supported, result.false_contradicted = calibration.spread_false_verdict_rates(parts, alpha)
        sizes = [(len(x), len(y)) for x, y in parts]
        smallest = calibration.smallest_on_grid(lambda r: calibration.spread_power(sizes, r, level),
                                                np.round(np.arange(1.0, 6.0001, 0.05), 2))
        runs = "/".join(sorted({str(n) for pair in sizes for n in pair}))
        result.power = (f"80% power for a spread (sd) ratio >= {smallest:.2f} at {runs} runs (level {level:.3g})"
                        if np.isfinite(smallest) else f"80% power for no spread ratio up to 6 at {runs} runs")
    elif kind == "paired":
        d = np.concatenate(result._calibrate[1])
        result.false_supported, result.false_contradicted = calibration.paired_false_verdict_rates(d, alpha)
        detectable = calibration.smallest_detectable(lambda p: calibration.paired_power(d.size, p, level))
        result.seeds_needed = calibration.seeds_needed(
            lambda n: calibration.paired_power(n, calibration.TARGET_PROBABILITY, level))
        result.power = (f"80% power for P(difference > 0) >= {_probability(detectable, paired=True)} at {d.size} "
                        f"seeds (level {level:.3g})" if np.isfinite(detectable) else
                        f"80% power for no P below {_probability(calibration.PROBABILITY_GRID[-1], paired=True)} at "
                        f"{d.size} seeds")


def evaluate_claims(study: Study | Stages, gridworld: list[GridworldRun], prereg: Preregistration,
                    calibrated: bool = True) -> tuple[list[Claim], TestResult | None]:
    """The claims of the file (all seven in config/claims.yaml), in order, and the A/A check (None when the file has none).

    The primary tests of all claims are Holm-corrected together; the A/A check is judged at
    the unadjusted level alpha (the stricter check of calibration)."""
    stages = as_stages(study)
    results = [evaluate_test(t, stages, gridworld) for t in prereg.tests]
    adjusted = stats.holm([r.p for r in results])
    tested = int(np.isfinite(adjusted).sum())
    level = prereg.alpha / max(tested, 1)
    for result, p_adj in zip(results, adjusted):
        result.p_adjusted = float(p_adj)
        result.verdict = stats.verdict(p_adj, result.direction, prereg.alpha)
        if calibrated:
            calibrate(result, prereg.alpha, level)
    aa = None
    if prereg.aa_check is not None:
        aa = evaluate_test(prereg.aa_check, stages, gridworld)
        aa.p_adjusted = aa.p
        aa.verdict = stats.verdict(aa.p, aa.direction, prereg.alpha)
        if calibrated:
            calibrate(aa, prereg.alpha, prereg.alpha)
    claims = [Claim(c, STATEMENTS[c], [r for r in results if r.test.claim == c]) for c in STATEMENTS
              if prereg.claim_tests(c)]  # the claims the file pre-registers (a study may test some only)
    return claims, aa


# ---- output ---------------------------------------------------------------------------------------


def describe_test(test: PrimaryTest) -> str:
    """The pre-registered test in words."""
    if test.stage == "aa":
        return (f"A/A: {SCORES[test.score]} of one algorithm at one setting, two disjoint seed sets as X and Y "
                "(stage aa), Welch's t-test on run scores, unadjusted level")
    if test.score == "pi0_share":
        pairs = ", ".join(p[0] for p in test.compare)
        what = f"pi_0 of {pairs} acting alone > {test.share:g} x the task policies of the same runs at the same step"
    else:
        what = " and ".join(f"{x} > {y}" for x, y in test.compare)
    method = {"failed_fraction": "Fisher's exact test, environments pooled",
              "final_spread": "Brown-Forsythe test per environment",
              "pi0_share": "one-sample t-test of the paired run differences"}.get(test.score, "Welch's t-test on run scores")
    return f"{test.name}: {SCORES[test.score]}, {what}; in {', '.join(test.envs)}; stage {test.stage}; {method}"


def _test_row(claim: str, verdict: str, r: TestResult) -> dict:
    head = r.headline
    return {
        "claim": claim, "test": r.test.name, "verdict": r.verdict, "claim_verdict": verdict,
        "score": r.test.score, "stage": r.stage_used, "envs": " ".join(r.test.envs), "horizon": r.horizon,
        "effect": head.numbers if head else "", "binding_comparison": head.description if head else "",
        "p_for": r.p_for, "p_against": r.p_against, "p": r.p, "p_holm": r.p_adjusted,
        "false_supported": r.false_supported, "false_contradicted": r.false_contradicted,
        "power": r.power, "seeds_needed_p070": r.seeds_needed, "reason": r.reason,
    }


def primary_tests_table(claims: list[Claim], aa: TestResult | None) -> pd.DataFrame:
    """One row per primary test (and the A/A check): verdict, effect, p-values, calibration, power."""
    rows = [_test_row(c.claim, c.verdict, r) for c in claims for r in c.tests]
    if aa is not None:
        rows.append(_test_row("A/A", aa.verdict, aa))
    return pd.DataFrame(rows)


def claims_table(claims: list[Claim]) -> pd.DataFrame:
    """One row per claim: claim, verdict, statement, rule (its primary tests), evidence (their
    comparisons, '; '-joined), and the claim's bounds on false verdicts under no difference."""
    rows = []
    for c in claims:
        rows.append({
            "claim": c.claim, "verdict": c.verdict, "statement": c.statement,
            "rule": " | ".join(describe_test(t.test) for t in c.tests),
            "horizon": " | ".join(t.label for t in c.tests if t.horizon),
            "evidence": " | ".join(f"{t.label} -> {t.verdict} ({t.reason}): " + "; ".join(
                f"{p.description}: {p.missing or p.numbers}" for p in t.comparisons) for t in c.tests),
            # supported needs every test supported: at most the smallest rate; contradicted needs
            # any one: at most the sum (both hold whatever the tests' dependence).
            "false_supported_max": min((t.false_supported for t in c.tests), default=float("nan")),
            "false_contradicted_max": float(np.sum([t.false_contradicted for t in c.tests])),
        })
    return pd.DataFrame(rows)


def _seeds(t: TestResult) -> str:
    if t.seeds_needed is not None:
        return str(t.seeds_needed)
    if t.power.startswith("80% power"):
        return f"more than {calibration.MAX_SEEDS}"
    return "not computed"


def claims_markdown(claims: list[Claim], aa: TestResult | None, prereg: Preregistration,
                    upper_references: dict[str, str] | None = None) -> str:
    """claims.md: verdicts, the pre-registered tests, how verdicts are computed, calibration and
    power, then each claim's tests and comparisons."""
    references = ""
    if upper_references:
        described = {"scripted": "the scripted shortest-path policy", "user": "a value given with the family",
                     "best_in_grid": "the best final return observed in the grid"}
        references = " Upper references: " + "; ".join(
            f"{env}: {described.get(source, source)}" for env, source in upper_references.items()) + "."
    table = primary_tests_table(claims, aa)
    labels = [t.label for c in claims for t in c.tests] + ([aa.label] if aa is not None else [])
    summary = pd.DataFrame({
        "claim": table["claim"], "test": labels, "verdict": table["verdict"],
        "effect (binding comparison)": table["binding_comparison"] + ": " + table["effect"],
        "p (Holm)": table["p_holm"], "false supported": table["false_supported"],
        "false contradicted": table["false_contradicted"], "power": table["power"],
        "seeds for P = 0.70": table["seeds_needed_p070"].map(lambda v: "" if pd.isna(v) else str(int(v))),
        "reason": table["reason"],
    })
    lines = [
        "# Claims of the Distral paper: verdicts from the runs",
        "",
        markdown_table(pd.DataFrame({"claim": [c.claim for c in claims], "verdict": [c.verdict for c in claims],
                                     "statement": [c.statement for c in claims],
                                     "final returns": ["; ".join(t.label for t in c.tests if t.horizon)
                                                       for c in claims]})),
        "A final return is the score at the end of a budget: each final-score result states its steps per "
        "task and whether the curves of the compared algorithms had flattened by then (per run, the fitted "
        "gain of the mean-over-tasks curve over its last quarter; flat when the one-sided 95% lower bound of "
        f"the mean gain over runs is at most {horizons.TOLERANCE:g}); on curves that had not, the result is "
        "worded \"at N steps per task\".",
        "",
        f"Pre-registered in `{_shown_path(prereg.source)}` before any run. \"Distral\" = {prereg.distral}, named there "
        "(the paper's own best), not chosen on these runs.",
        "",
        *([f"This study tests part of the claims only: {'; '.join(f'{c.claim} ' + ', '.join(t.test.name for t in c.tests) for c in claims)}. "
           "A claim's verdict here is that of these tests only; the other claims are not tested here.", ""]
          if len(claims) < len(STATEMENTS) else []),
        "## Primary tests",
        "",
        markdown_table(summary),
        "## How verdicts are computed",
        "",
        "Scores are normalised per task: (return - random) / (upper - random), where random is the mean "
        "return of the uniform-random policy and upper that of the upper reference (results/reference_scores.csv)."
        + references,
        "",
        "**The run is the unit.** One training run trains all tasks of a family together, so its tasks are "
        "not independent observations: every test and interval here works on runs, a run's score being its "
        "mean over tasks; bootstrap intervals resample whole runs "
        f"({stats.NUM_RESAMPLES} resamples, seed {stats.BOOTSTRAP_SEED}).",
        "",
        "**One pre-registered primary test per claim (at most two).** Each compares X with Y on one score in "
        "one stage; with several comparisons (environments x pairs) it is \"X beats Y in every one\": the "
        "p-value for the claim is the largest of the comparisons' one-sided p-values (intersection-union "
        "test), the p-value against it the smallest times the number of comparisons (Bonferroni), and the "
        "test's two-sided p-value twice the smaller of the two. The primary tests of all claims are corrected "
        f"together (Holm, family-wise error rate {prereg.alpha:g}). A test is *supported* or *contradicted* "
        f"(by its direction) when its Holm-adjusted p-value is at most {prereg.alpha:g}, else *not resolved*; "
        "missing data (no runs of an environment or algorithm, one seed) leave it not resolved with the reason. "
        "A claim is supported when all its primary tests are, contradicted when any one is, else not resolved. "
        "Effect sizes: P(run of X > run of Y) (ties one half) with a bootstrap 95% interval, and the score "
        "difference with Welch's 95% interval (unadjusted intervals). Every other table is exploratory.",
        "",
        "**Calibration, measured.** For each test, the rate of *supported* and of *contradicted* verdicts when "
        "X and Y do not differ, simulated from the study's own runs: every algorithm draws whole runs (all "
        "tasks together, so the within-run task correlation is the study's) from the pooled residual runs of "
        f"its stage and environment ({calibration.NUM_SIMULATIONS} simulated studies, at the unadjusted level "
        f"{prereg.alpha:g}: an upper bound inside the Holm family). A claim's false-supported rate is at most its "
        "tests' smallest, its false-contradicted rate at most their sum.",
        "",
        "**Power, stated.** The smallest P(run of X > run of Y) the test supports with 80% power at its seed "
        "counts (every comparison at that effect; normal random-effects model with the fitted sds, at Holm's "
        "strictest level alpha / m over the m primary tests run), and the seeds per algorithm needed for "
        f"P = {calibration.TARGET_PROBABILITY}.",
        "",
        f"Scores: AUC = mean score over the whole learning curve; final = mean over the last 10% of steps; early "
        f"AUC = mean over the first {EARLY_FRACTION:.0%} of steps. Best setting = the (beta, lr) with the fewest "
        "diverged runs, then the highest mean score over the last quarter of the grid's curve (over seeds and "
        "tasks): the rule that chose the confirmation settings; the tests use its non-diverged runs. "
        f"A run *failed* if it diverged or its mean final score stayed below {FAILURE_FRACTION:g} x the best run's "
        "of its environment; where all runs are pooled a diverged run scores 0. pi_0 (C6): pi_0 acting alone "
        "against the task policies on the same evaluation episodes (same env and sampling seeds) at the last "
        "evaluation point (pi0_eval.csv), paired run by run; runs without the task policies' column are not "
        "compared.",
        "",
        "Stages: *grid* = every beta x lr x seed at the preset's budget; *confirmation* = each algorithm at its "
        "best grid setting, rerun on fresh seeds with a longer budget (docs/workflow.md, \"Two stages\"); *late* = an "
        "environment's confirmation runs where it has them, else its grid.",
        "",
    ]
    if aa is not None:
        lines += ["## A/A check", "", describe_test(aa.test) + (f"; {aa.horizon}" if aa.horizon else "") + ".", "",
                  f"Verdict: **{aa.verdict}** ({aa.reason}); false supported {aa.false_supported:.3g}, "
                  f"false contradicted {aa.false_contradicted:.3g} under no difference.", ""]
        lines += [markdown_table(pd.DataFrame({"comparison": [p.description for p in aa.comparisons],
                                               "numbers": [p.missing or p.numbers for p in aa.comparisons]}))]
    for c in claims:
        lines += [f"## {c.claim}: {c.verdict}", "", c.statement, ""]
        for t in c.tests:
            lines += [f"### {t.label}: {t.verdict}", "", f"Rule: {describe_test(t.test)}.", "",
                      f"p for {t.p_for:.3g}, against {t.p_against:.3g}; two-sided {t.p:.3g}; Holm-adjusted "
                      f"{t.p_adjusted:.3g} ({t.reason}). False supported {t.false_supported:.3g}, false contradicted "
                      f"{t.false_contradicted:.3g}; power: {t.power}; seeds for P = "
                      f"{calibration.TARGET_PROBABILITY}: {_seeds(t)}.",
                      ""]
            lines += [markdown_table(pd.DataFrame({"comparison": [p.description for p in t.comparisons],
                                                   "numbers": [p.missing or p.numbers for p in t.comparisons]}))]
    return "\n".join(lines)
