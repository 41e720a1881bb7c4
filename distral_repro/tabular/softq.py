"""Soft Q-learning (G-learning) with a prior, and distillation: SPEC.md §2 as pure NumPy.

Notation (eq. 1-5 of the paper): tables over S states and A actions; `log_prior` is
log pi_0(a|s); alpha in [0, 1] weighs the KL against the entropy term; beta > 0 is the
inverse temperature; gamma the discount.

    V(s)      = (1/beta) log sum_a pi_0(a|s)^alpha exp(beta Q(s,a))        eq. 3  soft_value
    Q(s,a)    = R(s,a) + gamma sum_s' p(s'|s,a) V(s')                        eq. 4  soft_bellman_backup
    pi(a|s)   = pi_0(a|s)^alpha exp(beta (Q(s,a) - V(s)))                    eq. 2  soft_policy_log
    pi_0(a|s) proportional to sum_i (discounted visitation of (s,a) by pi_i) eq. 5  distil_prior

From eq. 2, for every action a: V(s) = Q(s,a) + (alpha/beta) log pi_0(a|s) - (1/beta) log pi(a|s),
so an n-step sampled target for Q(s_t, a_t) carries the regularisation terms of the
steps after t (`regulariser`, `nstep_soft_targets`).
"""

from __future__ import annotations

import numpy as np


def check_soft_q_settings(alpha: float, beta: float, gamma: float | None = None, n_steps: int | None = None) -> None:
    """Raise ValueError naming the valid range for a bad alpha, beta, gamma or n_steps."""
    if not isinstance(alpha, (int, float, np.number)) or isinstance(alpha, bool) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    if not isinstance(beta, (int, float, np.number)) or isinstance(beta, bool) or not np.isfinite(beta) or beta <= 0:
        raise ValueError(f"beta must be a finite number > 0, got {beta!r}")
    if gamma is not None and (
        not isinstance(gamma, (int, float, np.number)) or isinstance(gamma, bool) or not 0.0 <= gamma < 1.0
    ):
        raise ValueError(f"gamma must be a number in [0, 1), got {gamma!r}")
    if n_steps is not None and (isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1):
        raise ValueError(f"n_steps must be an integer >= 1, got {n_steps!r}")


def _logsumexp(x: np.ndarray) -> np.ndarray:
    """log sum exp over the last axis, stable: (..., A) -> (...)."""
    top = x.max(axis=-1)  # ndarray methods: this runs once per step of the tabular loop
    return top + np.log(np.exp(x - top[..., None]).sum(axis=-1))


def soft_value(q: np.ndarray, log_prior: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """Eq. 3: V = (1/beta) log sum_a pi_0^alpha exp(beta Q).

    Args:
        q: (..., A) soft action values.
        log_prior: (..., A) log pi_0, broadcastable to q.
    Returns:
        (...) soft state values. As beta -> inf with pi_0 > 0 it tends to max_a Q.
    """
    return _logsumexp(alpha * log_prior + beta * q) / beta


def soft_policy_log(q: np.ndarray, log_prior: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """Eq. 2: log pi = alpha log pi_0 + beta (Q - V); (..., A) -> (..., A), normalised over A."""
    logits = alpha * log_prior + beta * q
    return logits - _logsumexp(logits)[..., None]


def regulariser(log_prior_taken: np.ndarray, log_policy_taken: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """The per-step regularisation reward of eq. 1 for the action taken.

    (alpha/beta) log pi_0(a|s) - (1/beta) log pi(a|s); arrays of any matching shape.
    Under eq. 2 it equals V(s) - Q(s,a) exactly, for every action.
    """
    return (alpha * log_prior_taken - log_policy_taken) / beta


def soft_bellman_backup(
    q: np.ndarray,
    reward: np.ndarray,
    transition: np.ndarray,
    log_prior: np.ndarray,
    alpha: float,
    beta: float,
    gamma: float,
    terminal: np.ndarray | None = None,
) -> np.ndarray:
    """Eq. 4 with eq. 3 plugged in: one soft Bellman backup of a known MDP.

    Args:
        q: (S, A) current soft Q.
        reward: (S, A) expected reward R(s, a).
        transition: (S, A, S) p(s'|s, a).
        log_prior: (S, A) log pi_0.
        terminal: optional (S,) bool; V = 0 at terminal states.
    Returns:
        (S, A) R + gamma sum_s' p(s'|s,a) V(s').
    """
    value = soft_value(q, log_prior, alpha, beta)
    if terminal is not None:
        value = np.where(terminal, 0.0, value)
    return reward + gamma * transition @ value


def soft_value_iteration(
    reward: np.ndarray,
    transition: np.ndarray,
    log_prior: np.ndarray,
    alpha: float,
    beta: float,
    gamma: float,
    tolerance: float = 1e-12,
    max_iterations: int = 100_000,
) -> np.ndarray:
    """The fixed point of `soft_bellman_backup` (a gamma-contraction), (S, A)."""
    check_soft_q_settings(alpha, beta, gamma)
    q = np.zeros_like(reward, dtype=np.float64)
    for _ in range(max_iterations):
        new = soft_bellman_backup(q, reward, transition, log_prior, alpha, beta, gamma)
        if np.max(np.abs(new - q)) < tolerance:
            return new
        q = new
    raise RuntimeError(f"soft value iteration did not converge in {max_iterations} iterations")


def nstep_soft_targets(
    rewards: np.ndarray,
    regularisers: np.ndarray,
    next_values: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    gamma: float,
) -> np.ndarray:
    """Soft-Q targets of every step of a rollout segment, up to the segment's end.

    The target of step t is
        r_t + sum_{k=t+1}^{e} gamma^{k-t} (reg_k + r_k) + gamma^{e+1-t} V(s_{e+1}),
    where e is the last step of the segment or of t's episode: the bootstrap is
    V(s_{e+1}) after a segment end or a time-limit truncation and 0 after termination.
    reg_t itself is not included: Q(s_t, a_t) is conditioned on a_t.

    Args:
        rewards: (K, B) rewards r_k of K steps of B parallel learners.
        regularisers: (K, B) reg_k = (alpha/beta) log pi_0(a_k|s_k) - (1/beta) log pi(a_k|s_k).
        next_values: (K, B) V(s'_k), the soft value of the state after step k (the final
            state of an episode that ended at step k).
        terminated, truncated: (K, B) bool, the episode ended at step k.
    Returns:
        (K, B) targets for Q(s_k, a_k).
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    steps = rewards.shape[0]
    targets = np.empty_like(rewards)
    # What follows step k: V(s'_k) at a cut (end of segment or truncation), 0 at termination,
    # else the next step's regularisation term plus its own target.
    follow = np.where(terminated[-1], 0.0, next_values[-1])
    for k in range(steps - 1, -1, -1):
        if k < steps - 1:
            cont = regularisers[k + 1] + targets[k + 1]
            follow = np.where(terminated[k], 0.0, np.where(truncated[k], next_values[k], cont))
        targets[k] = rewards[k] + gamma * follow
    return targets


def distil_prior(visitation: np.ndarray, floor: float = 1e-12) -> np.ndarray:
    """Eq. 5: pi_0(a|s) proportional to the visitation summed over tasks.

    Args:
        visitation: (T, S, A) non-negative discounted state-action visitation of each task's
            policy (weighted, not averaged: a task that visits s more weighs more there).
        floor: smallest probability kept, so that log pi_0 stays finite after many
            rounds of sharpening; 1e-12 changes nothing visible.
    Returns:
        (S, A) pi_0; uniform in states no task visited.
    """
    visitation = np.asarray(visitation, dtype=np.float64)
    if visitation.ndim != 3 or (visitation < 0).any() or not np.isfinite(visitation).all():
        raise ValueError(f"visitation must be a finite non-negative (tasks, states, actions) array, got shape {visitation.shape}")
    total = visitation.sum(axis=0)  # (S, A)
    mass = total.sum(axis=1, keepdims=True)
    num_actions = total.shape[1]
    prior = np.where(mass > 0, total / np.where(mass > 0, mass, 1.0), 1.0 / num_actions)
    prior = np.maximum(prior, floor)
    return prior / prior.sum(axis=1, keepdims=True)


def soft_q_update(q: np.ndarray, index: tuple[np.ndarray, ...], targets: np.ndarray, learning_rate: float) -> np.ndarray:
    """Tabular step Q <- Q + lr (target - Q) at the visited entries, in place; returns q.

    `index` selects the entries (e.g. (task, state, action) arrays of equal shape, one per
    axis of q); repeated entries each contribute their own step (np.add.at).
    """
    np.add.at(q, index, learning_rate * (targets - q[index]))
    return q
