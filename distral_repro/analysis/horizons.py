"""Horizons: did a learning curve flatten before its budget ran out?

A final score is the score at the end of a budget. It is the score of a converged policy
only if the curve had flattened: here, if the least-squares slope of the mean score over
the last quarter of the evaluation points, times the quarter's length in steps, is within
the noise, i.e. its 95% confidence interval (over runs) contains zero or the gain it
predicts over that quarter is below `TOLERANCE` (0.05 on the normalised scale).

    gain_r = slope_r * (last_step - first_step of the quarter)     per run r
    flattened = mean(gain) - t * se(gain) <= TOLERANCE              (one-sided 95%)

A result on curves that had not flattened is worded "at N steps per task".
"""

from __future__ import annotations

import numpy as np
from scipy import stats

#: A gain over the last quarter below this (normalised score) counts as flat.
TOLERANCE = 0.05
LAST_FRACTION = 0.25
CONFIDENCE = 0.95


def last_quarter_gain(steps: np.ndarray, scores: np.ndarray, fraction: float = LAST_FRACTION) -> np.ndarray:
    """Per run, the least-squares slope over the last `fraction` of the steps times that span.

    steps: (P,) evaluation steps; scores: (R, P) a curve per run (mean over tasks).
    Returns (R,) the score each run gained over the span by its fitted line.
    """
    steps = np.asarray(steps, dtype=float)
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    late = steps >= (1.0 - fraction) * steps[-1]
    if late.sum() < 2:
        raise ValueError(f"fewer than 2 evaluation points in the last {fraction:.0%} of the curve")
    x = steps[late]
    y = scores[:, late]
    xc = x - x.mean()
    slope = (y - y.mean(axis=1, keepdims=True)) @ xc / (xc @ xc)
    return slope * (x[-1] - x[0])


def flattened(gains: np.ndarray, tolerance: float = TOLERANCE, confidence: float = CONFIDENCE) -> bool:
    """Whether the gains of the runs are within the noise: the one-sided lower bound of their
    mean is at most `tolerance` (with one run: the gain itself)."""
    gains = np.asarray(gains, dtype=float)
    gains = gains[np.isfinite(gains)]
    if gains.size == 0:
        raise ValueError("no finite gain")
    if gains.size == 1:
        return bool(gains[0] <= tolerance)
    se = gains.std(ddof=1) / np.sqrt(gains.size)
    lower = gains.mean() - stats.t.ppf(confidence, gains.size - 1) * se
    return bool(lower <= tolerance)


def horizon_phrase(steps_per_task: int, is_flat: bool) -> str:
    """How a final-score result states its horizon."""
    return f"final (curves flat by {steps_per_task:,} steps per task)" if is_flat else f"at {steps_per_task:,} steps per task"
