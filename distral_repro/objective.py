"""The Distral objective (SPEC.md §1, §3) as small pure torch functions.

Shapes: ``T`` = unroll length, ``B`` = batch of environments (all tasks, task-major),
``A`` = number of actions; ``...`` = any leading batch dimensions.

Map from function to equation (SPEC.md / Teh et al. 2017, arXiv 1707.04175):

==========================  =================================================================
``coefficients``            SPEC §1: (c_KL, c_Ent) = (alpha/beta, (1-alpha)/beta)
``alpha_beta``              SPEC §1: alpha = c_KL/(c_KL+c_Ent), beta = 1/(c_KL+c_Ent)
``two_column_logits``       eq. 8: logits of pi_i = alpha h_theta0 + beta f_thetai
``regularised_reward``      eq. 1 integrand: R_i + (alpha/beta) log pi_0 - (1/beta) log pi_i
``n_step_returns``          eq. 9: the n-step return of R_reg (discounting as A3C, SPEC CHOICE)
``policy_gradient_loss``    eq. 9: -E[log pi_i(a|s) (G - V)], advantage as a constant
``value_loss``              eq. 9's learned baseline: 0.5 (G - V)^2
``distill_loss``            eq. 10's extra term / eq. 5 for pi_0: -(alpha/beta) sum_a sg(pi_i) log pi_0
``entropy``, ``kl_divergence``  SPEC §1 regularisers H(pi) and KL(pi_i || pi_0) (diagnostics)
``actor_critic_loss``       eq. 9 + eq. 10 combined for one unroll (convenience)
==========================  =================================================================

Everything that the paper treats as a constant for the gradient (the regularised reward,
the advantages, the returns, pi_i inside the distillation cross-entropy) is detached here,
so callers cannot forget the stop-gradient.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor
import torch.nn.functional as F


def coefficients(alpha: float, beta: float) -> tuple[float, float]:
    """Return ``(c_kl, c_ent) = (alpha / beta, (1 - alpha) / beta)`` (SPEC §1).

    ``alpha`` must lie in [0, 1] and ``beta`` must be a finite number > 0.
    """
    alpha, beta = float(alpha), float(beta)
    if not (0.0 <= alpha <= 1.0):
        raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}")
    if not (beta > 0.0 and math.isfinite(beta)):
        raise ValueError(f"beta must be a finite number > 0, got {beta!r}")
    return alpha / beta, (1.0 - alpha) / beta


def alpha_beta(c_kl: float, c_ent: float) -> tuple[float, float]:
    """Inverse of :func:`coefficients`: ``alpha = c_kl / (c_kl + c_ent)``, ``beta = 1 / (c_kl + c_ent)``.

    Both costs must be finite and >= 0, and not both 0 (beta would be infinite).
    """
    c_kl, c_ent = float(c_kl), float(c_ent)
    for name, value in (("c_kl", c_kl), ("c_ent", c_ent)):
        if not (value >= 0.0 and math.isfinite(value)):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    total = c_kl + c_ent
    if total == 0.0:
        raise ValueError("c_kl + c_ent must be > 0 (beta = 1 / (c_kl + c_ent) would be infinite)")
    return c_kl / total, 1.0 / total


def two_column_logits(h: Tensor, beta_f: Tensor, alpha: float) -> Tensor:
    """Logits of the two-column task policy, eq. 8: ``alpha * h + beta_f``.

    Args:
        h: ``[..., A]`` logits of the shared distilled column, pi_0 = softmax(h) (eq. 6).
        beta_f: ``[..., A]`` output of task i's column, standing for ``beta * f_i`` itself.
        alpha: the KL share, in [0, 1].

    Returns:
        ``[..., A]`` logits of pi_i = softmax(alpha h + beta f_i).

    The task column learns the product ``beta * f`` directly rather than ``f`` multiplied by
    beta afterwards. With beta in the thousands, ``beta * f`` multiplies every RMSProp step
    on f by beta, which made the logits blow up and most tasks collapse in the prototype
    (shared/notes/feasibility.md); learning ``beta * f`` directly is the same function class
    and keeps the logits finite. beta still enters the objective through the regularised
    reward and the distillation cost.
    """
    _check_alpha(alpha)
    return alpha * h + beta_f


def action_log_probs(logits: Tensor, actions: Tensor) -> Tensor:
    """``log pi(a|s)`` of the taken actions.

    Args:
        logits: ``[..., A]`` unnormalised log-probabilities.
        actions: ``[...]`` integer actions.

    Returns:
        ``[...]`` log-probabilities (differentiable wrt ``logits``).
    """
    log_probs = F.log_softmax(logits, dim=-1)
    return log_probs.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)


def regularised_reward(
    reward: Tensor, log_pi0_a: Tensor, log_pi_a: Tensor, alpha: float, beta: float
) -> Tensor:
    """Per-step regularised reward of eq. 1: ``R + (alpha/beta) log pi_0(a|s) - (1/beta) log pi_i(a|s)``.

    Args:
        reward: ``[T, B]`` environment rewards R_i(s_t, a_t).
        log_pi0_a: ``[T, B]`` log pi_0(a_t|s_t); pass zeros when there is no pi_0 (alpha = 0).
        log_pi_a: ``[T, B]`` log pi_i(a_t|s_t).
        alpha, beta: as in SPEC §1.

    Returns:
        ``[T, B]`` the regularised reward, detached: it is a constant for the policy
        gradient (SPEC §3, stop-gradient through the log pi terms).
    """
    c_kl, _ = coefficients(alpha, beta)
    regularised = reward.detach() - log_pi_a.detach() / beta
    if c_kl != 0.0:  # skip at alpha = 0 so that a -inf/NaN placeholder cannot leak in as 0 * inf
        regularised = regularised + c_kl * log_pi0_a.detach()
    return regularised


def n_step_returns(rewards: Tensor, dones: Tensor, bootstrap_value: Tensor, gamma: float) -> Tensor:
    """Discounted n-step returns over one unroll: ``G_t = r_t + gamma (1 - done_t) G_{t+1}``, ``G_T = bootstrap``.

    Args:
        rewards: ``[T, B]`` rewards (the regularised reward for Distral).
        dones: ``[T, B]`` bool/float, true where the episode ended at step t: nothing
            from after step t (neither later rewards nor the bootstrap) flows into G_t.
        bootstrap_value: ``[B]`` value estimate of the state after the last step.
        gamma: discount in [0, 1].

    Returns:
        ``[T, B]`` returns, detached.

    Feeding the regularised reward in discounts the regulariser by gamma^(u-t) from the
    step t it is credited to, as A3C code does (SPEC §3 CHOICE; the paper writes gamma^u).
    """
    if not (0.0 <= gamma <= 1.0):
        raise ValueError(f"gamma must lie in [0, 1], got {gamma!r}")
    if rewards.shape != dones.shape or rewards.shape[1:] != bootstrap_value.shape:
        raise ValueError(
            f"shapes must be rewards [T, B], dones [T, B], bootstrap_value [B]; got "
            f"{tuple(rewards.shape)}, {tuple(dones.shape)}, {tuple(bootstrap_value.shape)}"
        )
    continues = 1.0 - dones.detach().to(rewards.dtype)
    returns = torch.empty_like(rewards, dtype=rewards.dtype)
    running = bootstrap_value.detach().to(rewards.dtype)
    rewards = rewards.detach()
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * continues[t] * running
        returns[t] = running
    return returns


def policy_gradient_loss(log_pi_a: Tensor, advantages: Tensor) -> Tensor:
    """Policy-gradient loss of eq. 9: ``-mean(log pi(a|s) * sg(advantages))``.

    Args:
        log_pi_a: ``[T, B]`` log pi_i(a_t|s_t), differentiable.
        advantages: ``[T, B]`` G_t - V(s_t); treated as a constant.

    Returns:
        scalar; its gradient descent is the ascent of E[log pi * advantage].
    """
    return -(log_pi_a * advantages.detach()).mean()


def value_loss(values: Tensor, returns: Tensor) -> Tensor:
    """Baseline regression loss: ``0.5 * mean((sg(returns) - values)^2)``.

    Args:
        values: ``[T, B]`` V(s_t), differentiable.
        returns: ``[T, B]`` n-step returns; treated as a constant.

    Returns:
        scalar.
    """
    return 0.5 * (returns.detach() - values).pow(2).mean()


def entropy(logits: Tensor) -> Tensor:
    """Entropy ``-sum_a pi(a) log pi(a)`` of ``pi = softmax(logits)``.

    Args:
        logits: ``[..., A]`` finite logits (large magnitudes are fine: log_softmax is stable).

    Returns:
        ``[...]`` entropies in nats.
    """
    log_probs = F.log_softmax(logits, dim=-1)
    return -(log_probs.exp() * log_probs).sum(dim=-1)


def kl_divergence(logits_p: Tensor, logits_q: Tensor) -> Tensor:
    """``KL(p || q) = sum_a p(a) (log p(a) - log q(a))`` for ``p = softmax(logits_p)``, ``q = softmax(logits_q)``.

    Distral's regulariser is KL(pi_i || pi_0): call ``kl_divergence(task_logits, pi0_logits)``.

    Args:
        logits_p, logits_q: ``[..., A]`` finite logits.

    Returns:
        ``[...]`` divergences in nats (>= 0).
    """
    log_p = F.log_softmax(logits_p, dim=-1)
    log_q = F.log_softmax(logits_q, dim=-1)
    return (log_p.exp() * (log_p - log_q)).sum(dim=-1)


def distill_loss(task_logits: Tensor, pi0_logits: Tensor, alpha: float, beta: float) -> Tensor:
    """Distillation cross-entropy: ``-(alpha/beta) * mean_batch sum_a sg(pi_i(a)) log pi_0(a)``.

    Args:
        task_logits: ``[..., A]`` logits of pi_i (detached inside: pi_0 is fit to pi_i,
            not the other way round).
        pi0_logits: ``[..., A]`` logits h of pi_0 = softmax(h).
        alpha, beta: as in SPEC §1.

    Returns:
        scalar. Per sample, its gradient wrt h is ``-(alpha/beta) (pi_i - pi_0)`` (divided by
        the number of samples, from the mean), so gradient descent on it is the ascent term
        ``(alpha/beta) sum_a (pi_i(a) - pi_0(a)) grad h(a)`` of eq. 10; on one-column
        variants it is the maximum-likelihood fit of pi_0 to the task policies' actions
        (eq. 5, in expectation over the actions). Exactly zero gradient at alpha = 0.
    """
    c_kl, _ = coefficients(alpha, beta)
    task_probs = F.softmax(task_logits.detach(), dim=-1)
    cross_entropy = -(task_probs * F.log_softmax(pi0_logits, dim=-1)).sum(dim=-1)
    return c_kl * cross_entropy.mean()


#: Where the entropy regulariser enters (``actor_critic_loss``): eq. 1's reward, or a loss bonus.
ENTROPY_FORMS = ("reward", "loss")


class ActorCriticLosses(NamedTuple):
    """Result of :func:`actor_critic_loss`: ``total`` is differentiable, the rest are detached scalars."""

    total: Tensor
    policy: Tensor
    value: Tensor
    distill: Tensor
    entropy: Tensor
    kl: Tensor


def actor_critic_loss(
    task_logits: Tensor,
    actions: Tensor,
    rewards: Tensor,
    dones: Tensor,
    values: Tensor,
    bootstrap_value: Tensor,
    *,
    gamma: float,
    alpha: float,
    beta: float,
    pi0_logits: Tensor | None = None,
    value_cost: float = 1.0,
    entropy_form: str = "reward",
) -> ActorCriticLosses:
    """Eq. 9 + eq. 10 for one unroll: ``total = pg + value_cost * value + distill``.

    Args:
        task_logits: ``[T, B, A]`` logits of pi_i (one-column f, two-column alpha h + beta f,
            or the shared h for A3C_multitask).
        actions: ``[T, B]`` actions taken.
        rewards: ``[T, B]`` environment rewards.
        dones: ``[T, B]`` episode ended at step t.
        values: ``[T, B]`` baseline V(s_t), differentiable.
        bootstrap_value: ``[B]`` V of the state after the unroll.
        gamma, alpha, beta: as in SPEC §1.
        pi0_logits: ``[T, B, A]`` logits h of pi_0, required when alpha > 0; with alpha = 0
            it may be None (no KL term, no distillation).
        value_cost: weight of :func:`value_loss` in the total (1.0: the 0.5 of the
            squared error is already inside value_loss).
        entropy_form: "reward" (eq. 1: -(1/beta) log pi_i in the regularised reward) or
            "loss" (a deviation, alpha = 0 only: the reward stays R and the total gains
            ``- (1/beta) mean H(pi_i)``, A2C's entropy bonus; see :func:`entropy_bonus_loss`).

    Returns:
        :class:`ActorCriticLosses`. The entropy regularisation lives in the regularised
        reward (the -(1/beta) log pi_i term, SPEC §1), so there is no separate entropy bonus;
        ``entropy`` and ``kl`` (KL(pi_i || pi_0), 0 without pi_0) are diagnostics.
    """
    if alpha > 0.0 and pi0_logits is None:
        raise ValueError(f"pi0_logits is required when alpha > 0 (got alpha={alpha})")
    if entropy_form not in ENTROPY_FORMS:
        raise ValueError(f"entropy_form must be one of {', '.join(ENTROPY_FORMS)}, got {entropy_form!r}")
    if entropy_form == "loss" and alpha != 0.0:
        raise ValueError(f"the loss-bonus entropy is defined for alpha = 0 only, got alpha={alpha}")
    log_pi_a = action_log_probs(task_logits, actions)
    if pi0_logits is None:
        log_pi0_a = torch.zeros_like(log_pi_a)
    else:
        log_pi0_a = action_log_probs(pi0_logits, actions)
    if entropy_form == "reward":
        reward_reg = regularised_reward(rewards, log_pi0_a, log_pi_a, alpha, beta)
    else:
        reward_reg = rewards.detach()
    returns = n_step_returns(reward_reg, dones, bootstrap_value, gamma)
    policy = policy_gradient_loss(log_pi_a, returns - values)
    value = value_loss(values, returns)
    if pi0_logits is None:
        distill = torch.zeros((), dtype=task_logits.dtype, device=task_logits.device)
        kl = torch.zeros((), dtype=task_logits.dtype, device=task_logits.device)
    else:
        distill = distill_loss(task_logits, pi0_logits, alpha, beta)
        kl = kl_divergence(task_logits.detach(), pi0_logits.detach()).mean()
    total = policy + value_cost * value + distill
    if entropy_form == "loss":
        total = total + entropy_bonus_loss(task_logits, beta)
    return ActorCriticLosses(
        total=total,
        policy=policy.detach(),
        value=value.detach(),
        distill=distill.detach(),
        entropy=entropy(task_logits.detach()).mean(),
        kl=kl,
    )


def entropy_bonus_loss(logits: Tensor, beta: float) -> Tensor:
    """The entropy as a loss bonus (A2C's form, not eq. 1): ``-(1/beta) * mean H(softmax(logits))``.

    Unlike eq. 1's -(1/beta) log pi_i in the reward, it adds nothing to the return of staying
    alive, so it does not pay an agent to avoid a terminal state (docs/learner.md).
    """
    if not (beta > 0.0 and math.isfinite(beta)):
        raise ValueError(f"beta must be a finite number > 0, got {beta!r}")
    return -entropy(logits).mean() / beta


def _check_alpha(alpha: float) -> None:
    if not (0.0 <= float(alpha) <= 1.0):
        raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}")
