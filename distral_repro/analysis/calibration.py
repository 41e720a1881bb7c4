"""Calibration and power of the primary tests, by simulation from the study's own noise.

Pure functions on (runs x tasks) score arrays, vectorised over simulations (seconds, not
minutes). The noise model of a stage x environment x score is fitted to the runs of the
algorithms a test compares, each at its best setting:

- `fit_noise`: a one-way random-effects model per group (algorithm), pooled: a run's task
  scores are its algorithm's task means + a run effect shared by all its tasks (sd
  `sigma_run`) + independent task noise (sd `sigma_task`); `icc` = sigma_run^2 /
  (sigma_run^2 + sigma_task^2), the within-run task correlation. It also keeps the residual
  rows (each run's scores minus its group's task means, rescaled by sqrt(n / (n - 1))), whole
  runs, so that the within-run correlation and the shape of the noise are the study's own.
- `location_false_verdict_rates`: under no difference the algorithms of an environment are
  dealt whole runs from that environment's pooled residual rows (distinct rows, a permutation
  null; with replacement only when the pool is smaller than the study; the normal model below
  when a group has fewer than MIN_RESAMPLED_RUNS runs); the test is run on each simulated
  study and counted decisive at the unadjusted level alpha. Holm's threshold is
  never above alpha, so these are upper bounds of each test's rate inside the Holm family.
- `power` / `smallest_detectable` / `seeds_needed`: the normal random-effects model with the
  fitted sds; X's runs shifted so that P(run of X > run of Y) = P (run scores, ties apart:
  shift = sqrt(2) * sd(run score) * Phi^-1(P)); power = the probability of *supported* at
  Holm's strictest level alpha / m (m primary tests), every comparison of the test at the
  same P.

`python -m distral_repro.analysis.calibration` prints, for a worked noise model, the A/A
false-verdict rates of the run-level rule and of the old stratified rule, and the power table.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from distral_repro.analysis import stats

NUM_SIMULATIONS = 4000
POWER_SIMULATIONS = 2000
TARGET_POWER = 0.8
#: The effect the confirmation stage should detect: P(run of X > run of Y).
TARGET_PROBABILITY = 0.70
SIMULATION_SEED = 0
MAX_SEEDS = 200
#: The false-verdict simulation resamples the study's own runs when every group has this many.
MIN_RESAMPLED_RUNS = 4


@dataclass(frozen=True)
class NoiseModel:
    """Seed-to-seed noise of one stage x environment x score.

    residual_rows: (num_rows, num_tasks) whole-run residuals, pooled over the groups.
    """

    sigma_run: float
    sigma_task: float
    num_tasks: int
    residual_rows: np.ndarray

    @property
    def icc(self) -> float:
        total = self.sigma_run**2 + self.sigma_task**2
        return float(self.sigma_run**2 / total) if total > 0 else float("nan")

    @property
    def sigma_score(self) -> float:
        """sd of a run's score (its mean over tasks)."""
        return float(np.sqrt(self.sigma_run**2 + self.sigma_task**2 / self.num_tasks))


def fit_noise(groups: list[np.ndarray]) -> NoiseModel | None:
    """Pooled random-effects fit over groups of (num_runs x num_tasks) scores (None if no group
    has two runs). Per group, residuals = scores - the group's task means; the between-run mean
    square estimates sigma_run^2 + sigma_task^2 / T, the within-run one sigma_task^2."""
    groups = [np.asarray(g, dtype=float) for g in groups if np.asarray(g).ndim == 2 and np.asarray(g).shape[0] >= 2]
    groups = [g for g in groups if np.all(np.isfinite(g))]
    if not groups:
        return None
    tasks = groups[0].shape[1]
    between = within = df_between = df_within = 0.0
    rows = []
    for g in groups:
        n = g.shape[0]
        residual = g - g.mean(axis=0)
        run_effect = residual.mean(axis=1)
        between += float((run_effect**2).sum())
        within += float(((residual - run_effect[:, None]) ** 2).sum())
        df_between += n - 1
        df_within += (n - 1) * (tasks - 1)
        rows.append(residual * np.sqrt(n / (n - 1)))
    run_score_var = between / df_between  # estimates sigma_run^2 + sigma_task^2 / T
    sigma_task2 = within / df_within if df_within > 0 else 0.0
    sigma_run2 = max(0.0, run_score_var - sigma_task2 / tasks)
    return NoiseModel(float(np.sqrt(sigma_run2)), float(np.sqrt(sigma_task2)), tasks, np.concatenate(rows))


def random_effects_runs(rng: np.random.Generator, shape: tuple[int, ...], sigma_run: float, sigma_task: float,
                        num_tasks: int) -> np.ndarray:
    """(*shape, num_tasks) scores of simulated runs: run effect + task noise (zero mean)."""
    return (rng.normal(0.0, sigma_run, shape)[..., None]
            + rng.normal(0.0, sigma_task, (*shape, num_tasks)))


def resampled_runs(rng: np.random.Generator, shape: tuple[int, int], noise: NoiseModel) -> np.ndarray:
    """(num_simulations, num_runs, num_tasks) whole residual runs of the study's own: per simulated
    study, num_runs distinct rows in a random order (a permutation null) when the pool has that
    many, else drawn with replacement. Drawn with replacement from a pool of a few runs, a study
    of 2 + 2 runs often repeats one run, has next to no spread and looks decisive; dealing the
    study's own runs out afresh does not."""
    pool = len(noise.residual_rows)
    simulations, runs = shape
    if runs <= pool:
        index = np.argsort(rng.random((simulations, pool)), axis=1)[:, :runs]
    else:
        index = rng.integers(0, pool, shape)
    return noise.residual_rows[index]


# ---- the location tests (auc, final, early AUC, grid world): Welch's t on run scores ----------------


@dataclass(frozen=True)
class Design:
    """The comparisons of one test: (env, X, Y) parts and each (env, algo)'s number of runs."""

    parts: tuple[tuple[str, str, str], ...]
    runs: dict[tuple[str, str], int]


def _simulate_location(rng, design: Design, draw, num_simulations: int, shift: dict | None = None):
    """(p_for, p_against) of the test on num_simulations simulated studies.

    draw(rng, env, shape) -> (*shape, num_tasks) zero-mean runs of env, all the runs of env's
    algorithms in one simulated study at once (shape (num_simulations, total runs)), so that a
    draw may deal distinct runs out to them; shift[(env, algo)] is added to that algorithm's
    run scores."""
    scores = {}
    for env in dict.fromkeys(e for e, _ in design.runs):
        algos = [(a, n) for (e, a), n in design.runs.items() if e == env]
        runs = stats.run_scores(draw(rng, env, (num_simulations, sum(n for _, n in algos))))
        start = 0
        for algo, n in algos:
            scores[(env, algo)] = runs[:, start:start + n] + (shift or {}).get((env, algo), 0.0)
            start += n
    greater, less = zip(*(stats.welch_one_sided(scores[(e, x)], scores[(e, y)]) for e, x, y in design.parts))
    return stats.all_parts(np.stack(greater, axis=-1), np.stack(less, axis=-1))


def rates(p_for: np.ndarray, p_against: np.ndarray, level: float) -> tuple[float, float]:
    """(rate supported, rate contradicted) at a two-sided level."""
    p, direction = stats.two_sided(p_for, p_against)
    decisive = p <= level
    return float(np.mean(decisive & (direction > 0))), float(np.mean(decisive & (direction < 0)))


def location_false_verdict_rates(design: Design, noise: dict[str, NoiseModel], alpha: float,
                                 num_simulations: int = NUM_SIMULATIONS, seed: int = SIMULATION_SEED) -> tuple[float, float]:
    """(false supported, false contradicted) under no difference (upper bounds for the test inside
    the Holm family: level alpha). Runs are the study's own residual runs (`resampled_runs`) when
    every group has at least MIN_RESAMPLED_RUNS runs, else the normal random-effects model with
    the fitted sds (the residuals of 2 runs are +r and -r: dealt out afresh they make studies far
    more decisive than any real pair of algorithms)."""
    rng = np.random.default_rng(seed)
    if min(design.runs.values(), default=0) >= MIN_RESAMPLED_RUNS:
        def draw(r, env, shape):
            return resampled_runs(r, shape, noise[env])
    else:
        def draw(r, env, shape):
            m = noise[env]
            return random_effects_runs(r, shape, m.sigma_run, m.sigma_task, m.num_tasks)
    return rates(*_simulate_location(rng, design, draw, num_simulations), alpha)


def location_power(design: Design, noise: dict[str, NoiseModel], probability: float, level: float,
                   num_simulations: int = POWER_SIMULATIONS, seed: int = SIMULATION_SEED,
                   runs: int | None = None) -> float:
    """Probability of *supported* at a two-sided level when every X beats its Y with
    P(run of X > run of Y) = probability (normal random-effects model); `runs` replaces every
    group's number of runs (seed counts not in the study)."""
    if runs is not None:
        design = Design(design.parts, {key: runs for key in design.runs})
    rng = np.random.default_rng(seed)
    # Every X of a part sits `delta` above every Y (X's are the tests' winners; an algorithm that
    # is X in one part and Y in another is not a design this power covers).
    winners = {(e, x) for e, x, _ in design.parts}
    shift = {key: np.sqrt(2.0) * noise[key[0]].sigma_score * sps.norm.ppf(probability) for key in winners}

    def draw(r, env, shape):
        m = noise[env]
        return random_effects_runs(r, shape, m.sigma_run, m.sigma_task, m.num_tasks)

    p_for, p_against = _simulate_location(rng, design, draw, num_simulations, shift)
    return rates(p_for, p_against, level)[0]


#: P(X > Y) grid of the power search: Phi(d / sqrt(2)) for standardised differences d = 0 .. 8 by 0.05.
PROBABILITY_GRID = sps.norm.cdf(np.arange(0.0, 8.0001, 0.05) / np.sqrt(2.0))


def smallest_detectable(power_at, target: float = TARGET_POWER, grid: np.ndarray = PROBABILITY_GRID) -> float:
    """The smallest P(X > Y) on a rising grid with power_at(P) >= target (NaN if none)."""
    lo, hi = 0, len(grid) - 1
    if power_at(grid[hi]) < target:
        return float("nan")
    while lo < hi:  # power rises with P: bisect
        mid = (lo + hi) // 2
        if power_at(grid[mid]) >= target:
            hi = mid
        else:
            lo = mid + 1
    return float(grid[lo])


def seeds_needed(power_with_runs, target: float = TARGET_POWER, max_seeds: int = MAX_SEEDS) -> int | None:
    """The smallest number of runs per algorithm with power_with_runs(n) >= target (None above max_seeds)."""
    if power_with_runs(max_seeds) < target:
        return None
    lo, hi = 2, max_seeds
    while lo < hi:
        mid = (lo + hi) // 2
        if power_with_runs(mid) >= target:
            hi = mid
        else:
            lo = mid + 1
    return lo


# ---- the other tests -------------------------------------------------------------------------------


def failed_fraction_false_verdict_rates(counts: list[tuple[int, int, int, int]], alpha: float,
                                        num_simulations: int = NUM_SIMULATIONS, seed: int = SIMULATION_SEED):
    """Fisher tests of parts (failed_x, runs_x, failed_y, runs_y) under no difference: each part's
    failures drawn binomially at its pooled fraction. Returns (false supported, false contradicted)."""
    rng = np.random.default_rng(seed)
    greater, less = [], []
    for fx, nx, fy, ny in counts:
        pooled = (fx + fy) / (nx + ny)
        sx, sy = rng.binomial(nx, pooled, num_simulations), rng.binomial(ny, pooled, num_simulations)
        g, l_ = stats.fisher_one_sided(sx, nx, sy, ny)
        greater.append(g)
        less.append(l_)
    return rates(*stats.all_parts(np.stack(greater, -1), np.stack(less, -1)), alpha)


def spread_false_verdict_rates(parts: list[tuple[np.ndarray, np.ndarray]], alpha: float,
                               num_simulations: int = NUM_SIMULATIONS, seed: int = SIMULATION_SEED):
    """Brown-Forsythe tests of parts (x values, y values) under no difference: both drawn with
    replacement from the part's pooled values."""
    rng = np.random.default_rng(seed)
    greater, less = [], []
    for x, y in parts:
        pooled = np.concatenate([x, y])
        sx = pooled[rng.integers(0, len(pooled), (num_simulations, len(x)))]
        sy = pooled[rng.integers(0, len(pooled), (num_simulations, len(y)))]
        g, l_ = stats.brown_forsythe_one_sided(sx, sy)
        greater.append(g)
        less.append(l_)
    return rates(*stats.all_parts(np.stack(greater, -1), np.stack(less, -1)), alpha)


def paired_false_verdict_rates(differences: np.ndarray, alpha: float, num_simulations: int = NUM_SIMULATIONS,
                               seed: int = SIMULATION_SEED):
    """One-sample t-test of (n,) paired run differences under no difference: n normal differences
    with the observed sd (a handful of differences is too few to resample: drawn with replacement,
    4 values give many samples with next to no spread, and a test that rejects far too often)."""
    d = np.asarray(differences, dtype=float)
    if d.size < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    sims = rng.normal(0.0, float(d.std(ddof=1)) or 1.0, (num_simulations, d.size))
    return rates(*stats.one_sample_one_sided(sims), alpha)


def paired_power(n: int, probability: float, level: float, num_simulations: int = POWER_SIMULATIONS,
                 seed: int = SIMULATION_SEED) -> float:
    """Power of the one-sample t-test of n normal paired differences with P(difference > 0) = probability."""
    rng = np.random.default_rng(seed)
    d = rng.normal(sps.norm.ppf(probability), 1.0, (num_simulations, n))
    return rates(*stats.one_sample_one_sided(d), level)[0]


def failed_fraction_power(counts: list[tuple[int, int, int, int]], fraction_x: float, level: float,
                          num_simulations: int = POWER_SIMULATIONS, seed: int = SIMULATION_SEED) -> float:
    """Power of the Fisher test of parts (failed_x, runs_x, failed_y, runs_y) to support "X fails
    more" when every X fails at `fraction_x` and every Y at its observed fraction."""
    rng = np.random.default_rng(seed)
    greater, less = [], []
    for _, nx, fy, ny in counts:
        sx = rng.binomial(nx, fraction_x, num_simulations)
        sy = rng.binomial(ny, fy / ny, num_simulations)
        g, l_ = stats.fisher_one_sided(sx, nx, sy, ny)
        greater.append(g)
        less.append(l_)
    return rates(*stats.all_parts(np.stack(greater, -1), np.stack(less, -1)), level)[0]


def spread_power(sizes: list[tuple[int, int]], ratio: float, level: float, num_simulations: int = POWER_SIMULATIONS,
                 seed: int = SIMULATION_SEED) -> float:
    """Power of the Brown-Forsythe tests of parts of (n_x, n_y) normal values to support "X spreads
    more" when X's sd is `ratio` times Y's in every part."""
    rng = np.random.default_rng(seed)
    greater, less = [], []
    for nx, ny in sizes:
        g, l_ = stats.brown_forsythe_one_sided(rng.normal(0.0, ratio, (num_simulations, nx)),
                                               rng.normal(0.0, 1.0, (num_simulations, ny)))
        greater.append(g)
        less.append(l_)
    return rates(*stats.all_parts(np.stack(greater, -1), np.stack(less, -1)), level)[0]


def smallest_on_grid(power_at, grid: np.ndarray, target: float = TARGET_POWER) -> float:
    """The smallest value of a rising grid with power_at(value) >= target (NaN if none)."""
    return smallest_detectable(power_at, target, grid)


# ---- the old rule, for comparison (docs/statistics.md) -------------------------------------------


def stratified_rule_decisive_rate(icc: float, runs: int = 4, tasks: int = 8, num_simulations: int = 200,
                                  num_resamples: int = 500, seed: int = SIMULATION_SEED) -> float:
    """How often the former rule (rliable's P(X > Y) with a stratified-bootstrap 95% interval
    excluding 0.5) is decisive when X and Y do not differ, runs with within-run correlation icc."""
    rng = np.random.default_rng(seed)
    decisive = 0
    for _ in range(num_simulations):
        x, y = (random_effects_runs(rng, (runs,), np.sqrt(icc), np.sqrt(1 - icc), tasks) for _ in range(2))
        _, low, high = stats.probability_of_improvement_ci(x, y, stratified=True, num_resamples=num_resamples)
        decisive += (low > 0.5) or (high < 0.5)
    return decisive / num_simulations


def aa_rates(icc: float, runs: int = 4, tasks: int = 8, alpha: float = 0.05, num_simulations: int = NUM_SIMULATIONS,
             seed: int = SIMULATION_SEED) -> tuple[float, float]:
    """(false supported, false contradicted) of the run-level rule on one comparison of two sets of
    `runs` runs of the same algorithm (normal random effects at intraclass correlation icc)."""
    noise = NoiseModel(float(np.sqrt(icc)), float(np.sqrt(1 - icc)), tasks, np.empty((0, tasks)))
    design = Design((("env", "A", "B"),), {("env", "A"): runs, ("env", "B"): runs})
    rng = np.random.default_rng(seed)

    def draw(r, env, shape):
        return random_effects_runs(r, shape, noise.sigma_run, noise.sigma_task, tasks)

    return rates(*_simulate_location(rng, design, draw, num_simulations), alpha)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m distral_repro.analysis.calibration",
        description="A/A false-verdict rates of the run-level rule (and of the former stratified rule) and the "
                    "power of one comparison, under a normal random-effects noise model.",
    )
    parser.add_argument("--icc", type=float, nargs="+", default=[0.0, 0.5, 0.8], help="intraclass correlations")
    parser.add_argument("--runs", type=int, default=4, help="runs (seeds) per algorithm")
    parser.add_argument("--tasks", type=int, default=8, help="tasks per run")
    parser.add_argument("--tests", type=int, default=11, help="primary tests in the Holm family (power level alpha/m)")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--old-rule", action="store_true", help="also simulate the former stratified rule (slower)")
    args = parser.parse_args(argv)
    if not all(0 <= i < 1 for i in args.icc) or args.runs < 2 or args.tasks < 1 or args.tests < 1 \
            or not 0 < args.alpha < 1:
        print("error: need 0 <= icc < 1, runs >= 2, tasks >= 1, tests >= 1, 0 < alpha < 1", file=sys.stderr)
        return 2
    print(f"A/A, {args.runs} vs {args.runs} runs of {args.tasks} tasks, level {args.alpha}:")
    for icc in args.icc:
        sup, con = aa_rates(icc, args.runs, args.tasks, args.alpha)
        line = f"  icc {icc:.2f}: run-level rule false supported {sup:.3f}, false contradicted {con:.3f}"
        if args.old_rule:
            line += f"; former stratified rule decisive {stratified_rule_decisive_rate(icc, args.runs, args.tasks):.3f}"
        print(line)
    noise = {"env": NoiseModel(np.sqrt(0.5), np.sqrt(0.5), args.tasks, np.empty((0, args.tasks)))}
    design = Design((("env", "A", "B"),), {("env", "A"): args.runs, ("env", "B"): args.runs})
    level = args.alpha / args.tests
    detectable = smallest_detectable(lambda p: location_power(design, noise, p, level))
    needed = seeds_needed(lambda n: location_power(design, noise, TARGET_PROBABILITY, level, runs=n))
    print(f"one comparison at level alpha/m = {level:.4g}: smallest P(X > Y) detected with 80% power at "
          f"{args.runs} seeds: {detectable:.2f}; seeds for P(X > Y) = {TARGET_PROBABILITY}: {needed}")
    for n in (4, 8, 12, 16, 32):
        print(f"  power at P = {TARGET_PROBABILITY}, {n} seeds: "
              f"{location_power(design, noise, TARGET_PROBABILITY, level, runs=n):.2f} (level {level:.4g}), "
              f"{location_power(design, noise, TARGET_PROBABILITY, args.alpha, runs=n):.2f} (level {args.alpha})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
