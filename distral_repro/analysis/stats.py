"""Interval estimates, tests and verdicts as small pure functions over NumPy arrays.

In the style of rliable (Agarwal et al., NeurIPS 2021): scores are matrices of shape
(num_runs x num_tasks), rows are runs (seeds), columns are tasks; the interquartile mean, the
probability of improvement and performance profiles follow rliable's definitions.

The resampling unit is the run. One training run trains all tasks of a family together, so the
tasks of a run share its seed, its initialisation and (for the shared-column algorithms) its
network: its task scores are correlated, and a run is one observation, not num_tasks of them.
Every interval here resamples whole rows (`bootstrap_ci`, the default); rliable's stratified
bootstrap (runs resampled independently within each task) is kept, `stratified=True`, for runs
that really are per task. Intervals are percentile bootstraps from `scipy.stats.bootstrap` with
an explicit seed, so they are reproducible. rliable itself does not import beside pandas 3.

Tests of the claims work on run scores, one number per run (its mean over tasks): Welch's
t-test for two algorithms, Fisher's exact test for failed-run counts, the Brown-Forsythe test
(a t-test on absolute deviations from the median) for spread; `holm` corrects the primary
tests of all claims together; `verdict` turns an adjusted p-value and a direction into
supported / contradicted / not resolved.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Callable, Sequence

import numpy as np
from scipy import stats

#: Verdicts of a primary test or a claim.
SUPPORTED = "supported"
CONTRADICTED = "contradicted"
NOT_RESOLVED = "not resolved"
VERDICTS = (SUPPORTED, CONTRADICTED, NOT_RESOLVED)

CONFIDENCE_LEVEL = 0.95
#: The Brown-Forsythe test of spread needs this many values per group.
MIN_SPREAD_RUNS = 3
NUM_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


def bootstrap_ci(
    score_matrices: Sequence[np.ndarray],
    statistic: Callable[..., np.ndarray],
    confidence_level: float = CONFIDENCE_LEVEL,
    num_resamples: int = NUM_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    paired: bool = True,
    stratified: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point estimate and percentile-bootstrap interval of `statistic`.

    Args:
        score_matrices: one or more arrays of shape (num_runs, num_tasks, *rest), all with
            the same num_tasks. Paired (the default): they also share num_runs and the same
            resampled run indices are used for every matrix (e.g. pi_0 and task policies of
            the same runs). Unpaired: each matrix's runs are resampled on their own (two
            algorithms' runs).
        statistic: maps resampled matrices of shape (B, num_runs, num_tasks, *rest) to an
            array of shape (B, *out).
        stratified: False (the default): whole runs are resampled, all tasks of a run
            together. True: rliable's stratified bootstrap, runs resampled independently
            within each task; only for runs that train one task each.
    Returns:
        (point, low, high), each of shape (*out); low/high are NaN when a matrix has fewer
        than two runs (no interval can be estimated from one run).
    """
    matrices = [np.asarray(m, dtype=float) for m in score_matrices]
    num_tasks = matrices[0].shape[1]
    if any(m.shape[1] != num_tasks for m in matrices) or (
        paired and any(m.shape[0] != matrices[0].shape[0] for m in matrices)
    ):
        raise ValueError("score matrices must share num_tasks (and num_runs when paired)")
    point = np.asarray(statistic(*[m[None] for m in matrices]))[0]
    if min(m.shape[0] for m in matrices) < 2:
        nan = np.full_like(point, np.nan, dtype=float)
        return point, nan, nan.copy()
    # One group of matrices per set of resampled run indices: all of them (paired) or one each.
    groups = [matrices] if paired else [[m] for m in matrices]
    strata = num_tasks if stratified else 1

    def resampled_statistic(*run_indices: np.ndarray, axis: int = -1) -> np.ndarray:
        # run_indices[g * strata + t]: (B, num_runs) resampled row indices of group g (task t if stratified).
        resampled = []
        for g, group in enumerate(groups):
            indices = run_indices[g * strata : (g + 1) * strata]
            if stratified:
                resampled += [np.stack([m[idx, t] for t, idx in enumerate(indices)], axis=2) for m in group]
            else:
                resampled += [m[indices[0]] for m in group]  # (B, num_runs, num_tasks, *rest): whole rows
        return np.moveaxis(np.asarray(statistic(*resampled)), 0, -1)

    result = stats.bootstrap(
        tuple(np.arange(group[0].shape[0]) for group in groups for _ in range(strata)),
        resampled_statistic,
        n_resamples=num_resamples,
        batch=200,
        vectorized=True,
        confidence_level=confidence_level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval
    return point, np.asarray(low, dtype=float), np.asarray(high, dtype=float)


def mean_over_runs_and_tasks(matrix: np.ndarray) -> np.ndarray:
    """Mean of (B, num_runs, num_tasks, *rest) over runs and tasks -> (B, *rest)."""
    return matrix.mean(axis=(1, 2))


def mean_score_ci(scores: np.ndarray, **kwargs) -> tuple[float, float, float]:
    """Mean of a (num_runs x num_tasks) score matrix with its bootstrap interval.

    Returns (mean, ci_low, ci_high) as floats.
    """
    point, low, high = bootstrap_ci([scores], mean_over_runs_and_tasks, **kwargs)
    return float(point), float(low), float(high)


def interquartile_mean(matrix: np.ndarray) -> np.ndarray:
    """IQM of (B, num_runs, num_tasks) scores -> (B,): the mean of the middle 50% of all
    run x task scores, 25% trimmed at each end (rliable's `aggregate_iqm`)."""
    flat = matrix.reshape(matrix.shape[0], -1)
    return stats.trim_mean(flat, proportiontocut=0.25, axis=1)


def iqm_ci(scores: np.ndarray, **kwargs) -> tuple[float, float, float]:
    """Interquartile mean of a (num_runs x num_tasks) score matrix with its bootstrap interval."""
    point, low, high = bootstrap_ci([scores], interquartile_mean, **kwargs)
    return float(point), float(low), float(high)


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) of (B, n, num_tasks) and (B, m, num_tasks) scores -> (B,).

    Per task, the probability that a random run of X scores above a random run of Y, ties
    counting one half (the Mann-Whitney U statistic over n * m); then the mean over tasks
    (rliable's `probability_of_improvement`).
    """
    greater = (x[:, :, None, :] > y[:, None, :, :]).mean(axis=(1, 2))  # (B, num_tasks)
    ties = (x[:, :, None, :] == y[:, None, :, :]).mean(axis=(1, 2))
    return (greater + 0.5 * ties).mean(axis=1)


def probability_of_improvement_ci(x: np.ndarray, y: np.ndarray, **kwargs) -> tuple[float, float, float]:
    """P(X > Y) of two (runs x num_tasks) score matrices (rliable's, per task then averaged); each
    matrix's runs resampled on their own (whole runs unless stratified=True)."""
    point, low, high = bootstrap_ci([x, y], probability_of_improvement, paired=False, **kwargs)
    return float(point), float(low), float(high)


def score_distribution(matrix: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """Performance profile of (B, num_runs, num_tasks) scores at thresholds taus (T,) -> (B, T).

    For each tau, the fraction of runs scoring above tau on a task, averaged over tasks
    (rliable's run-score distribution).
    """
    return (matrix[..., None] > np.asarray(taus, dtype=float)).mean(axis=(1, 2))


def performance_profile_ci(scores: np.ndarray, taus: np.ndarray, **kwargs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Performance profile of a (num_runs x num_tasks) matrix at taus, with pointwise bands."""
    return bootstrap_ci([scores], lambda m: score_distribution(m, taus), **kwargs)


def curve_ci(curves: np.ndarray, **kwargs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean learning curve with a pointwise interval.

    Args:
        curves: (num_runs, num_tasks, num_steps) returns at common evaluation steps.
    Returns:
        (mean, ci_low, ci_high), each (num_steps,).
    """
    return bootstrap_ci([curves], mean_over_runs_and_tasks, **kwargs)


def normalised_gap_ci(
    numerator_scores: np.ndarray, reference_scores: np.ndarray, floor: float, **kwargs
) -> tuple[float, float, float]:
    """(mean(numerator) - floor) / (mean(reference) - floor) with its bootstrap interval.

    Both matrices are (num_runs x num_tasks) and paired run by run. Used for "pi_0 alone
    reaches which fraction of the task policies' improvement over the start level".
    """

    def ratio(num: np.ndarray, ref: np.ndarray) -> np.ndarray:
        return (num.mean(axis=(1, 2)) - floor) / (ref.mean(axis=(1, 2)) - floor)

    point, low, high = bootstrap_ci([numerator_scores, reference_scores], ratio, **kwargs)
    return float(point), float(low), float(high)


def interquartile_range(values: np.ndarray) -> float:
    """75th minus 25th percentile (linear interpolation) of a 1-D array."""
    q75, q25 = np.percentile(np.asarray(values, dtype=float), [75, 25])
    return float(q75 - q25)


def interquartile_range_ci(
    values: np.ndarray,
    confidence_level: float = CONFIDENCE_LEVEL,
    num_resamples: int = NUM_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float, float]:
    """Interquartile range of (num_runs,) scores with a bootstrap interval over runs."""
    values = np.asarray(values, dtype=float)
    point = interquartile_range(values)
    if values.size < 2:
        return point, float("nan"), float("nan")

    def iqr(sample: np.ndarray, axis: int = -1) -> np.ndarray:
        q75, q25 = np.percentile(sample, [75, 25], axis=axis)
        return q75 - q25

    result = stats.bootstrap(
        (values,),
        iqr,
        n_resamples=num_resamples,
        vectorized=True,
        confidence_level=confidence_level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return point, float(result.confidence_interval.low), float(result.confidence_interval.high)




# ---- tests on run scores (the run is the unit) ---------------------------------------------


@contextmanager
def _quiet():
    """scipy warns of precision loss on nearly identical samples; the p-value is still right
    (or NaN, handled as no evidence), and the simulations hit such samples by the thousand."""
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def run_scores(matrix: np.ndarray) -> np.ndarray:
    """(..., num_runs, num_tasks) -> (..., num_runs): each run's score, its mean over tasks
    (the tasks are strata of the score, not observations)."""
    return np.asarray(matrix, dtype=float).mean(axis=-1)


def welch_one_sided(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-sided p-values of Welch's t-test on run scores: (P for mean x > mean y, for x < y).

    x (..., n) and y (..., m) run scores; leading axes are independent tests (vectorised, for
    the simulations). Where the test is undefined (a group of one run, no variance at all)
    both p-values are 1: no evidence either way.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape[-1] < 2 or y.shape[-1] < 2:
        ones = np.ones(np.broadcast_shapes(x.shape[:-1], y.shape[:-1]))
        return ones, ones.copy()
    with _quiet():
        greater = stats.ttest_ind(x, y, axis=-1, equal_var=False, alternative="greater").pvalue
        less = stats.ttest_ind(x, y, axis=-1, equal_var=False, alternative="less").pvalue
    return np.nan_to_num(greater, nan=1.0), np.nan_to_num(less, nan=1.0)


def one_sample_one_sided(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-sided p-values of the one-sample t-test of (..., n) differences: (mean > 0, mean < 0);
    1 where undefined (fewer than two runs, no variance)."""
    d = np.asarray(d, dtype=float)
    if d.shape[-1] < 2:
        ones = np.ones(d.shape[:-1])
        return ones, ones.copy()
    with _quiet():
        greater = stats.ttest_1samp(d, 0.0, axis=-1, alternative="greater").pvalue
        less = stats.ttest_1samp(d, 0.0, axis=-1, alternative="less").pvalue
    return np.nan_to_num(greater, nan=1.0), np.nan_to_num(less, nan=1.0)


def fisher_one_sided(failed_x, runs_x, failed_y, runs_y) -> tuple[np.ndarray, np.ndarray]:
    """Fisher's exact test of failed-run counts: (P for fraction x > fraction y, for x < y).

    The hypergeometric tail of x's failures given the total (as scipy.stats.fisher_exact with
    alternative greater/less), vectorised over arrays of counts.
    """
    failed_x, runs_x, failed_y, runs_y = np.broadcast_arrays(*(np.asarray(a) for a in (failed_x, runs_x, failed_y, runs_y)))
    total, failed = runs_x + runs_y, failed_x + failed_y
    greater = stats.hypergeom.sf(failed_x - 1, total, failed, runs_x)
    less = stats.hypergeom.cdf(failed_x, total, failed, runs_x)
    return np.minimum(greater, 1.0), np.minimum(less, 1.0)


def brown_forsythe_one_sided(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Brown-Forsythe test of spread: (P for spread x > spread y, for x < y).

    Student's t-test on the absolute deviations of each group's values from its median (with
    two groups, the square of this t is the F of `scipy.stats.levene(center="median")`).
    x (..., n), y (..., m) values; 1 where undefined, and with fewer than MIN_SPREAD_RUNS values in
    a group (two values lie at the same distance from their median: no spread of deviations).
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape[-1] < MIN_SPREAD_RUNS or y.shape[-1] < MIN_SPREAD_RUNS:
        ones = np.ones(np.broadcast_shapes(x.shape[:-1], y.shape[:-1]))
        return ones, ones.copy()
    dx = np.abs(x - np.median(x, axis=-1, keepdims=True))
    dy = np.abs(y - np.median(y, axis=-1, keepdims=True))
    with _quiet():
        greater = stats.ttest_ind(dx, dy, axis=-1, alternative="greater").pvalue
        less = stats.ttest_ind(dx, dy, axis=-1, alternative="less").pvalue
    return np.nan_to_num(greater, nan=1.0), np.nan_to_num(less, nan=1.0)


def all_parts(p_greater: np.ndarray, p_less: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One test of "X beats Y in every part" from its K parts' one-sided p-values (..., K).

    For: the intersection-union test, p = max over parts (level alpha without correction: every
    part must show it). Against: any part showing the opposite refutes the claim, so
    Bonferroni over the K parts, p = min(1, K * min over parts). Returns (p_for, p_against).
    """
    p_greater, p_less = np.asarray(p_greater, dtype=float), np.asarray(p_less, dtype=float)
    parts = p_greater.shape[-1]
    return p_greater.max(axis=-1), np.minimum(1.0, parts * p_less.min(axis=-1))


def two_sided(p_for: np.ndarray, p_against: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(two-sided p, direction): p = min(1, 2 * min(p_for, p_against)); direction +1 where the
    evidence is for the claim (p_for <= p_against), -1 against."""
    p_for, p_against = np.asarray(p_for, dtype=float), np.asarray(p_against, dtype=float)
    return np.minimum(1.0, 2.0 * np.minimum(p_for, p_against)), np.where(p_for <= p_against, 1, -1)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control over all of them).

    Sorted ascending p_(1) <= ... <= p_(m): adjusted p_(i) = max over j <= i of
    min(1, (m - j + 1) p_(j)). NaN entries (tests that could not be run) stay NaN and do not
    count in m. scipy has only false-discovery-rate adjustments (`false_discovery_control`).
    """
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    valid = np.flatnonzero(np.isfinite(p))
    m = valid.size
    if m == 0:
        return adjusted
    order = valid[np.argsort(p[valid], kind="stable")]
    steps = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted[order] = np.maximum.accumulate(steps)
    return adjusted


def verdict(p_adjusted: float, direction: int, alpha: float) -> str:
    """supported / contradicted when the adjusted two-sided p is at most alpha (by direction),
    else not resolved (also when the test could not be run: NaN)."""
    if not np.isfinite(p_adjusted) or p_adjusted > alpha:
        return NOT_RESOLVED
    return SUPPORTED if direction > 0 else CONTRADICTED


def combine_primaries(verdicts: Sequence[str]) -> str:
    """A claim from its (one or two) primary tests: supported when every one is, contradicted
    when any one is, else not resolved."""
    if any(v == CONTRADICTED for v in verdicts):
        return CONTRADICTED
    if verdicts and all(v == SUPPORTED for v in verdicts):
        return SUPPORTED
    return NOT_RESOLVED


# ---- effect sizes on run scores ---------------------------------------------------------------


def run_probability_of_improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) of run scores x (..., n) and y (..., m): the probability that a run of X scores
    above a run of Y, ties counting one half (Mann-Whitney U / (n m)) -> (...)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    greater = (x[..., :, None] > y[..., None, :]).mean(axis=(-2, -1))
    ties = (x[..., :, None] == y[..., None, :]).mean(axis=(-2, -1))
    return greater + 0.5 * ties


def _run_bootstrap(samples: tuple[np.ndarray, ...], statistic, confidence_level, num_resamples, seed, paired=False):
    point = float(statistic(*samples))
    if min(len(s) for s in samples) < 2:
        return point, float("nan"), float("nan")
    result = stats.bootstrap(
        samples, lambda *s, axis=-1: statistic(*s), n_resamples=num_resamples, vectorized=True, paired=paired,
        confidence_level=confidence_level, method="percentile", rng=np.random.default_rng(seed),
    )
    return point, float(result.confidence_interval.low), float(result.confidence_interval.high)


def run_probability_of_improvement_ci(
    x: np.ndarray, y: np.ndarray, confidence_level: float = CONFIDENCE_LEVEL, num_resamples: int = NUM_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float, float]:
    """P(X > Y) of two sets of run scores (n,), (m,) with a bootstrap interval (each set's runs
    resampled on their own)."""
    return _run_bootstrap((np.asarray(x, float), np.asarray(y, float)), run_probability_of_improvement,
                          confidence_level, num_resamples, seed)


def mean_difference_ci(x: np.ndarray, y: np.ndarray, confidence_level: float = CONFIDENCE_LEVEL) -> tuple[float, float, float]:
    """Difference of mean run scores, mean(x) - mean(y), with Welch's t interval (NaN with fewer
    than two runs in a group)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    difference = float(x.mean() - y.mean()) if x.size and y.size else float("nan")
    if x.size < 2 or y.size < 2:
        return difference, float("nan"), float("nan")
    with _quiet():
        ci = stats.ttest_ind(x, y, equal_var=False).confidence_interval(confidence_level)
    low, high = float(ci.low), float(ci.high)
    if not np.isfinite(low):  # no variance in either group: the difference is known exactly
        low = high = difference
    return difference, low, high


def mean_ci(d: np.ndarray, confidence_level: float = CONFIDENCE_LEVEL) -> tuple[float, float, float]:
    """Mean of (n,) run values with its one-sample t interval (NaN with fewer than two)."""
    d = np.asarray(d, dtype=float)
    mean = float(d.mean()) if d.size else float("nan")
    if d.size < 2:
        return mean, float("nan"), float("nan")
    with _quiet():
        ci = stats.ttest_1samp(d, 0.0).confidence_interval(confidence_level)
    low, high = float(ci.low), float(ci.high)
    return (mean, mean, mean) if not np.isfinite(low) else (mean, low, high)


def iqr_difference_ci(
    x: np.ndarray, y: np.ndarray, confidence_level: float = CONFIDENCE_LEVEL, num_resamples: int = NUM_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float, float]:
    """IQR(x) - IQR(y) of two sets of (independent) run scores with a bootstrap interval."""

    def difference(a, b, axis=-1):
        qa = np.percentile(a, [75, 25], axis=-1)
        qb = np.percentile(b, [75, 25], axis=-1)
        return (qa[0] - qa[1]) - (qb[0] - qb[1])

    return _run_bootstrap((np.asarray(x, float), np.asarray(y, float)), difference, confidence_level,
                          num_resamples, seed)


def fraction_difference_ci(
    x: np.ndarray, y: np.ndarray, confidence_level: float = CONFIDENCE_LEVEL, num_resamples: int = NUM_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float, float]:
    """mean(x) - mean(y) of two sets of per-run values (e.g. failed = 1) with a bootstrap interval."""
    return _run_bootstrap((np.asarray(x, float), np.asarray(y, float)),
                          lambda a, b: a.mean(axis=-1) - b.mean(axis=-1), confidence_level, num_resamples, seed)


def ratio_of_means_ci(
    numerator: np.ndarray, denominator: np.ndarray, confidence_level: float = CONFIDENCE_LEVEL,
    num_resamples: int = NUM_RESAMPLES, seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float, float]:
    """mean(numerator) / mean(denominator) of paired (n,) run values, runs resampled together."""
    return _run_bootstrap((np.asarray(numerator, float), np.asarray(denominator, float)),
                          lambda a, b: a.mean(axis=-1) / b.mean(axis=-1), confidence_level, num_resamples, seed,
                          paired=True)
