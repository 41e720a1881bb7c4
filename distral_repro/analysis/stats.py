"""Interval estimates and comparison rules as small pure functions over NumPy arrays.

In the style of rliable (Agarwal et al., NeurIPS 2021): scores are matrices of shape
(num_runs x num_tasks), rows are independent runs (seeds), columns are tasks; the
interquartile mean, the probability of improvement and performance profiles follow
rliable's definitions. Confidence intervals come from a stratified
percentile bootstrap (runs are resampled independently within each task, as rliable does)
computed with `scipy.stats.bootstrap` and an explicit seed, so every interval is
reproducible. rliable itself does not import beside pandas 3.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from scipy import stats

#: Verdicts of a comparison or a claim.
HOLDS = "holds"
DOES_NOT_HOLD = "does not hold"
INCONCLUSIVE = "inconclusive"

CONFIDENCE_LEVEL = 0.95
NUM_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


def stratified_bootstrap_ci(
    score_matrices: Sequence[np.ndarray],
    statistic: Callable[..., np.ndarray],
    confidence_level: float = CONFIDENCE_LEVEL,
    num_resamples: int = NUM_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    paired: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point estimate and percentile-bootstrap interval of `statistic`.

    Args:
        score_matrices: one or more arrays of shape (num_runs, num_tasks, *rest), all with
            the same num_tasks. Paired (the default): they also share num_runs and the same
            resampled run indices are used for every matrix (e.g. pi_0 and task policies of
            the same runs). Unpaired: each matrix's runs are resampled on their own (two
            algorithms' runs, as rliable's probability of improvement does).
        statistic: maps resampled matrices of shape (B, num_runs, num_tasks, *rest) to an
            array of shape (B, *out).
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
    # One group of resampled run indices per task: shared by all matrices (paired) or one each.
    groups = [matrices] if paired else [[m] for m in matrices]

    def resampled_statistic(*run_indices: np.ndarray, axis: int = -1) -> np.ndarray:
        # run_indices[g * num_tasks + t]: (B, num_runs) resampled row indices of task t, group g.
        resampled = []
        for g, group in enumerate(groups):
            indices = run_indices[g * num_tasks : (g + 1) * num_tasks]
            resampled += [np.stack([m[idx, t] for t, idx in enumerate(indices)], axis=2) for m in group]
        return np.moveaxis(np.asarray(statistic(*resampled)), 0, -1)

    result = stats.bootstrap(
        tuple(np.arange(group[0].shape[0]) for group in groups for _ in range(num_tasks)),
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
    point, low, high = stratified_bootstrap_ci([scores], mean_over_runs_and_tasks, **kwargs)
    return float(point), float(low), float(high)


def interquartile_mean(matrix: np.ndarray) -> np.ndarray:
    """IQM of (B, num_runs, num_tasks) scores -> (B,): the mean of the middle 50% of all
    run x task scores, 25% trimmed at each end (rliable's `aggregate_iqm`)."""
    flat = matrix.reshape(matrix.shape[0], -1)
    return stats.trim_mean(flat, proportiontocut=0.25, axis=1)


def iqm_ci(scores: np.ndarray, **kwargs) -> tuple[float, float, float]:
    """Interquartile mean of a (num_runs x num_tasks) score matrix with its stratified interval."""
    point, low, high = stratified_bootstrap_ci([scores], interquartile_mean, **kwargs)
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
    """P(X > Y) of two (runs x num_tasks) score matrices; each one's runs resampled within each task."""
    point, low, high = stratified_bootstrap_ci([x, y], probability_of_improvement, paired=False, **kwargs)
    return float(point), float(low), float(high)


def score_distribution(matrix: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """Performance profile of (B, num_runs, num_tasks) scores at thresholds taus (T,) -> (B, T).

    For each tau, the fraction of runs scoring above tau on a task, averaged over tasks
    (rliable's run-score distribution).
    """
    return (matrix[..., None] > np.asarray(taus, dtype=float)).mean(axis=(1, 2))


def performance_profile_ci(scores: np.ndarray, taus: np.ndarray, **kwargs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Performance profile of a (num_runs x num_tasks) matrix at taus, with pointwise bands."""
    return stratified_bootstrap_ci([scores], lambda m: score_distribution(m, taus), **kwargs)


def curve_ci(curves: np.ndarray, **kwargs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean learning curve with a pointwise interval.

    Args:
        curves: (num_runs, num_tasks, num_steps) returns at common evaluation steps.
    Returns:
        (mean, ci_low, ci_high), each (num_steps,).
    """
    return stratified_bootstrap_ci([curves], mean_over_runs_and_tasks, **kwargs)


def normalised_gap_ci(
    numerator_scores: np.ndarray, reference_scores: np.ndarray, floor: float, **kwargs
) -> tuple[float, float, float]:
    """(mean(numerator) - floor) / (mean(reference) - floor) with its bootstrap interval.

    Both matrices are (num_runs x num_tasks) and paired run by run. Used for "pi_0 alone
    reaches which fraction of the task policies' improvement over the start level".
    """

    def ratio(num: np.ndarray, ref: np.ndarray) -> np.ndarray:
        return (num.mean(axis=(1, 2)) - floor) / (ref.mean(axis=(1, 2)) - floor)

    point, low, high = stratified_bootstrap_ci([numerator_scores, reference_scores], ratio, **kwargs)
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


def compare_intervals(
    better_low: float, better_high: float, worse_low: float, worse_high: float
) -> str:
    """Verdict on "the first quantity is larger than the second" from two intervals.

    holds: the first interval lies entirely above the second; does not hold: entirely
    below; inconclusive: they overlap or an interval is missing (NaN).
    """
    bounds = np.array([better_low, better_high, worse_low, worse_high], dtype=float)
    if not np.all(np.isfinite(bounds)):
        return INCONCLUSIVE
    if better_low > worse_high:
        return HOLDS
    if better_high < worse_low:
        return DOES_NOT_HOLD
    return INCONCLUSIVE


def combine_all(verdicts: Sequence[str]) -> str:
    """Verdict of a claim that must hold in every part (a universal claim).

    Any part that does not hold refutes it; it holds only if every part holds; otherwise
    (including no parts at all, i.e. missing data) it is inconclusive.
    """
    if any(v == DOES_NOT_HOLD for v in verdicts):
        return DOES_NOT_HOLD
    if verdicts and all(v == HOLDS for v in verdicts):
        return HOLDS
    return INCONCLUSIVE
