"""Tests of distral_repro.objective against hand-worked numbers and limiting cases.

The hand cases use probabilities that are powers of 1/2 (or 1/3), written as logits
``log(p) + shift``; the shift checks that every function normalises its logits.
"""

import math

import pytest
import torch

from distral_repro.objective import (
    action_log_probs,
    actor_critic_loss,
    alpha_beta,
    coefficients,
    distill_loss,
    entropy,
    kl_divergence,
    n_step_returns,
    policy_gradient_loss,
    regularised_reward,
    two_column_logits,
    value_loss,
)

torch.set_num_threads(1)
LN2 = math.log(2.0)


def logits_of(probs, shift=3.0):
    """Logits whose softmax is ``probs`` (shifted, since softmax ignores a constant)."""
    return torch.log(torch.tensor(probs, dtype=torch.float64)) + shift


# Two states, three actions: pi_i and pi_0 in each state.
PI_I = [[0.5, 0.25, 0.25], [1 / 3, 1 / 3, 1 / 3]]
PI_0 = [[0.25, 0.25, 0.5], [0.5, 0.25, 0.25]]


# ---------------------------------------------------------------- coefficients


def test_coefficients_hand_values():
    # alpha = 0.5, beta = 2: c_kl = 0.5 / 2 = 0.25, c_ent = (1 - 0.5) / 2 = 0.25
    assert coefficients(0.5, 2.0) == (0.25, 0.25)
    # alpha = 1, beta = 4: c_kl = 1/4, c_ent = 0
    assert coefficients(1.0, 4.0) == (0.25, 0.0)
    # alpha = 0, beta = 10: c_kl = 0, c_ent = 1/10
    assert coefficients(0.0, 10.0) == (0.0, 0.1)


def test_alpha_beta_hand_values_and_inverse():
    # c_kl = 0.25, c_ent = 0.25: alpha = 0.25 / 0.5 = 0.5, beta = 1 / 0.5 = 2
    assert alpha_beta(0.25, 0.25) == (0.5, 2.0)
    # c_kl = 0.3, c_ent = 0.1: alpha = 0.3 / 0.4 = 0.75, beta = 1 / 0.4 = 2.5
    assert alpha_beta(0.3, 0.1) == pytest.approx((0.75, 2.5))
    for alpha, beta in [(0.0, 1.0), (0.5, 3e3), (1.0, 1e4), (0.2, 0.7)]:
        assert alpha_beta(*coefficients(alpha, beta)) == pytest.approx((alpha, beta))


@pytest.mark.parametrize("alpha,beta", [(-0.1, 1.0), (1.5, 1.0), (0.5, 0.0), (0.5, -2.0),
                                        (0.5, float("inf")), (float("nan"), 1.0)])
def test_coefficients_rejects_bad_input(alpha, beta):
    with pytest.raises(ValueError, match="alpha must lie in|beta must be"):
        coefficients(alpha, beta)


@pytest.mark.parametrize("c_kl,c_ent", [(0.0, 0.0), (-1.0, 1.0), (1.0, -0.5), (float("nan"), 1.0)])
def test_alpha_beta_rejects_bad_input(c_kl, c_ent):
    with pytest.raises(ValueError, match="c_kl|c_ent"):
        alpha_beta(c_kl, c_ent)


# ---------------------------------------------------------------- two-column logits


def test_two_column_logits_hand_values_and_gradient():
    h = torch.tensor([[1.0, 2.0, 0.0], [-4.0, 0.0, 6.0]], requires_grad=True)
    beta_f = torch.tensor([[10.0, -10.0, 0.0], [1.0, 1.0, 1.0]], requires_grad=True)
    logits = two_column_logits(h, beta_f, alpha=0.5)
    # 0.5 * [1, 2, 0] + [10, -10, 0] = [10.5, -9, 0]; 0.5 * [-4, 0, 6] + 1 = [-1, 1, 4]
    assert torch.equal(logits, torch.tensor([[10.5, -9.0, 0.0], [-1.0, 1.0, 4.0]]))
    logits.sum().backward()
    # d logits / d h = alpha = 0.5, d logits / d beta_f = 1
    assert torch.equal(h.grad, torch.full_like(h, 0.5))
    assert torch.equal(beta_f.grad, torch.ones_like(beta_f))


def test_two_column_alpha_one_with_zero_task_column_is_pi0():
    h = logits_of(PI_0)
    pi = torch.softmax(two_column_logits(h, torch.zeros_like(h), alpha=1.0), dim=-1)
    torch.testing.assert_close(pi, torch.tensor(PI_0, dtype=torch.float64))


def test_two_column_rejects_bad_alpha():
    with pytest.raises(ValueError, match="alpha must lie in"):
        two_column_logits(torch.zeros(3), torch.zeros(3), alpha=2.0)


# ---------------------------------------------------------------- entropy / KL


def test_entropy_hand_values():
    ent = entropy(logits_of(PI_I))
    # state 1: -(0.5 ln 0.5 + 2 * 0.25 ln 0.25) = 0.5 ln2 + ln2 = 1.5 ln2
    # state 2: uniform over 3 actions = ln 3
    torch.testing.assert_close(ent, torch.tensor([1.5 * LN2, math.log(3.0)], dtype=torch.float64))


@pytest.mark.parametrize("num_actions", [2, 3, 9])
def test_entropy_of_uniform_is_log_num_actions(num_actions):
    logits = torch.full((2, 4, num_actions), -7.5, dtype=torch.float64)
    torch.testing.assert_close(entropy(logits), torch.full((2, 4), math.log(num_actions), dtype=torch.float64))


def test_kl_hand_values():
    kl = kl_divergence(logits_of(PI_I, shift=1.0), logits_of(PI_0, shift=-2.0))
    # state 1: 0.5 ln(0.5/0.25) + 0.25 ln(0.25/0.25) + 0.25 ln(0.25/0.5) = 0.5 ln2 - 0.25 ln2 = 0.25 ln2
    # state 2: (1/3)[ln((1/3)/(1/2)) + 2 ln((1/3)/(1/4))] = (1/3) ln((2/3)(4/3)^2) = (1/3) ln(32/27)
    expected = torch.tensor([0.25 * LN2, math.log(32 / 27) / 3], dtype=torch.float64)
    torch.testing.assert_close(kl, expected)


def test_kl_direction_is_p_to_q():
    pi_i, pi_0 = logits_of(PI_I)[1], logits_of(PI_0)[1]  # state 2: uniform vs [1/2, 1/4, 1/4]
    # the reverse direction KL(pi_0 || pi_i) = 0.5 ln(0.5/(1/3)) + 2 * 0.25 ln(0.25/(1/3))
    #   = 0.5 ln1.5 + 0.5 ln0.75 = 0.5 ln(9/8), which differs from KL(pi_i || pi_0) = (1/3) ln(32/27)
    torch.testing.assert_close(kl_divergence(pi_0, pi_i), torch.tensor(0.5 * math.log(9 / 8), dtype=torch.float64))
    torch.testing.assert_close(kl_divergence(pi_i, pi_0), torch.tensor(math.log(32 / 27) / 3, dtype=torch.float64))
    assert kl_divergence(pi_i, pi_i).abs().item() < 1e-12


def test_kl_vanishes_when_pi0_equals_pi():
    logits = torch.randn(5, 4, 3, generator=torch.Generator().manual_seed(0))
    kl = kl_divergence(logits, logits + 2.0)  # same distribution, shifted logits
    assert kl.abs().max().item() < 1e-6


# ---------------------------------------------------------------- regularised reward


def test_regularised_reward_hand_values():
    reward = torch.tensor([[1.0, 0.0], [0.5, -1.0]], dtype=torch.float64)
    log_pi0_a = torch.log(torch.tensor([[0.5, 0.25], [1.0, 0.5]], dtype=torch.float64))
    log_pi_a = torch.log(torch.tensor([[0.25, 0.25], [0.5, 1.0]], dtype=torch.float64))
    out = regularised_reward(reward, log_pi0_a, log_pi_a, alpha=0.5, beta=2.0)
    # alpha/beta = 0.25, 1/beta = 0.5
    expected = torch.tensor([
        [1.0 + 0.25 * (-LN2) - 0.5 * (-2 * LN2),   # = 1 + 0.75 ln2
         0.0 + 0.25 * (-2 * LN2) - 0.5 * (-2 * LN2)],  # = 0.5 ln2
        [0.5 + 0.25 * 0.0 - 0.5 * (-LN2),          # = 0.5 + 0.5 ln2
         -1.0 + 0.25 * (-LN2) - 0.5 * 0.0],        # = -1 - 0.25 ln2
    ], dtype=torch.float64)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(out[0, 0], torch.tensor(1 + 0.75 * LN2, dtype=torch.float64))


def test_regularised_reward_is_detached():
    log_pi_a = torch.log(torch.tensor([[0.5]], requires_grad=True))
    log_pi0_a = torch.log(torch.tensor([[0.25]], requires_grad=True))
    out = regularised_reward(torch.ones(1, 1), log_pi0_a, log_pi_a, alpha=0.5, beta=1.0)
    assert not out.requires_grad


def test_regularised_reward_alpha_one_and_pi0_equal_pi_is_reward():
    # R + (1/beta) log pi - (1/beta) log pi = R: the KL term vanishes and alpha = 1 leaves no entropy.
    reward = torch.tensor([[1.0, -2.0], [0.0, 3.0]], dtype=torch.float64)
    log_pi = torch.log(torch.tensor([[0.5, 0.25], [0.125, 1.0]], dtype=torch.float64))
    out = regularised_reward(reward, log_pi, log_pi, alpha=1.0, beta=0.5)
    torch.testing.assert_close(out, reward)
    # with 0 < alpha < 1 an entropy bonus -((1-alpha)/beta) log pi remains: alpha = 0.5, beta = 0.5
    # -> R - 1 * log pi, e.g. at [0, 0]: 1 - ln 0.5 = 1 + ln2
    out_half = regularised_reward(reward, log_pi, log_pi, alpha=0.5, beta=0.5)
    torch.testing.assert_close(out_half, reward - log_pi)
    torch.testing.assert_close(out_half[0, 0], torch.tensor(1 + LN2, dtype=torch.float64))


def test_regularised_reward_alpha_one_large_beta_tends_to_reward():
    reward = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    log_pi0_a = torch.log(torch.tensor([[0.1, 0.9]], dtype=torch.float64))
    log_pi_a = torch.log(torch.tensor([[0.7, 0.2]], dtype=torch.float64))
    errors = []
    for beta in [1e1, 1e3, 1e5, 1e8]:
        out = regularised_reward(reward, log_pi0_a, log_pi_a, alpha=1.0, beta=beta)
        errors.append((out - reward).abs().max().item())
        # exact: (1/beta)(log pi_0 - log pi_i)
        torch.testing.assert_close(out - reward, (log_pi0_a - log_pi_a) / beta)
    assert errors == sorted(errors, reverse=True) and errors[-1] < 1e-7


def test_regularised_reward_alpha_zero_ignores_pi0():
    reward = torch.zeros(1, 2, dtype=torch.float64)
    log_pi_a = torch.log(torch.tensor([[0.5, 0.25]], dtype=torch.float64))
    # placeholder -inf for pi_0 must not produce 0 * -inf = NaN; entropy term alone: -(1/beta) log pi
    out = regularised_reward(reward, torch.full_like(reward, -math.inf), log_pi_a, alpha=0.0, beta=2.0)
    # -(1/2) ln 0.5 = 0.5 ln2; -(1/2) ln 0.25 = ln2
    torch.testing.assert_close(out, torch.tensor([[0.5 * LN2, LN2]], dtype=torch.float64))


# ---------------------------------------------------------------- n-step returns


def test_n_step_returns_without_done():
    rewards = torch.tensor([[1.0], [2.0], [3.0]], dtype=torch.float64)
    dones = torch.zeros(3, 1, dtype=torch.bool)
    out = n_step_returns(rewards, dones, torch.tensor([10.0], dtype=torch.float64), gamma=0.9)
    # G2 = 3 + 0.9*10 = 12; G1 = 2 + 0.9*12 = 12.8; G0 = 1 + 0.9*12.8 = 12.52
    torch.testing.assert_close(out, torch.tensor([[12.52], [12.8], [12.0]], dtype=torch.float64))


def test_n_step_returns_with_done_in_the_middle():
    rewards = torch.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]], dtype=torch.float64)
    # column 0: the episode ends at t = 1; column 1: it ends at the last step t = 2
    dones = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    bootstrap = torch.tensor([10.0, 10.0], dtype=torch.float64)
    out = n_step_returns(rewards, dones, bootstrap, gamma=0.9)
    # column 0: G2 = 3 + 0.9*10 = 12 (new episode, bootstrapped); G1 = 2 (done: nothing after);
    #           G0 = 1 + 0.9*2 = 2.8
    # column 1: G2 = 3 (done, bootstrap ignored); G1 = 2 + 0.9*3 = 4.7; G0 = 1 + 0.9*4.7 = 5.23
    expected = torch.tensor([[2.8, 5.23], [2.0, 4.7], [12.0, 3.0]], dtype=torch.float64)
    torch.testing.assert_close(out, expected)
    # bool dones give the same result
    torch.testing.assert_close(n_step_returns(rewards, dones.bool(), bootstrap, 0.9), expected)


def test_n_step_returns_gamma_zero_and_one():
    rewards = torch.tensor([[1.0], [2.0]])
    dones = torch.zeros(2, 1)
    bootstrap = torch.tensor([5.0])
    # gamma = 0: G_t = r_t; gamma = 1: G1 = 2 + 5 = 7, G0 = 1 + 7 = 8
    torch.testing.assert_close(n_step_returns(rewards, dones, bootstrap, 0.0), rewards)
    torch.testing.assert_close(n_step_returns(rewards, dones, bootstrap, 1.0), torch.tensor([[8.0], [7.0]]))


def test_n_step_returns_rejects_bad_input():
    with pytest.raises(ValueError, match="gamma"):
        n_step_returns(torch.zeros(2, 1), torch.zeros(2, 1), torch.zeros(1), gamma=1.5)
    with pytest.raises(ValueError, match="shapes"):
        n_step_returns(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2), gamma=0.9)


# ---------------------------------------------------------------- policy / value losses


def test_policy_gradient_loss_hand_value_and_gradient():
    log_pi_a = torch.log(torch.tensor([[0.5, 0.25]], dtype=torch.float64)).requires_grad_()
    advantages = torch.tensor([[2.0, -4.0]], dtype=torch.float64, requires_grad=True)
    loss = policy_gradient_loss(log_pi_a, advantages)
    # -mean(2 ln0.5 + (-4) ln0.25) = -(-2 ln2 + 8 ln2) / 2 = -3 ln2
    torch.testing.assert_close(loss, torch.tensor(-3 * LN2, dtype=torch.float64))
    loss.backward()
    # d/d log_pi = -advantage / N = [-1, 2]; advantages are constant
    torch.testing.assert_close(log_pi_a.grad, torch.tensor([[-1.0, 2.0]], dtype=torch.float64))
    assert advantages.grad is None


def test_value_loss_hand_value_and_gradient():
    values = torch.tensor([[1.0, 2.0]], requires_grad=True)
    returns = torch.tensor([[3.0, 0.0]], requires_grad=True)
    loss = value_loss(values, returns)
    # 0.5 * mean((3-1)^2, (0-2)^2) = 0.5 * 4 = 2
    torch.testing.assert_close(loss, torch.tensor(2.0))
    loss.backward()
    # d/dV = (V - G) / N = [(1-3)/2, (2-0)/2] = [-1, 1]; returns are constant
    torch.testing.assert_close(values.grad, torch.tensor([[-1.0, 1.0]]))
    assert returns.grad is None


def test_action_log_probs_hand_values():
    logits = logits_of(PI_I)
    # state 1 action 0: ln 0.5; state 2 action 2: ln(1/3)
    out = action_log_probs(logits, torch.tensor([0, 2]))
    torch.testing.assert_close(out, torch.tensor([-LN2, -math.log(3.0)], dtype=torch.float64))


# ---------------------------------------------------------------- distillation


def test_distill_loss_hand_value():
    task_logits = logits_of(PI_I)
    pi0_logits = logits_of(PI_0, shift=-1.0)
    loss = distill_loss(task_logits, pi0_logits, alpha=0.5, beta=2.0)
    # alpha/beta = 0.25. Cross-entropies -sum pi_i log pi_0:
    # state 1: -(0.5 ln0.25 + 0.25 ln0.25 + 0.25 ln0.5) = ln2 + 0.5 ln2 + 0.25 ln2 = 1.75 ln2
    # state 2: -(1/3)(ln0.5 + ln0.25 + ln0.25) = (1/3)(5 ln2) = 5/3 ln2
    # loss = 0.25 * mean(1.75, 5/3) ln2 = 0.25 * (41/24) ln2 = 41/96 ln2
    torch.testing.assert_close(loss, torch.tensor(41 / 96 * LN2, dtype=torch.float64))


def test_distill_gradient_is_eq10_ascent_term():
    task_logits = logits_of(PI_I).requires_grad_()
    h = logits_of(PI_0, shift=-1.0).requires_grad_()
    alpha, beta = 0.5, 2.0
    distill_loss(task_logits, h, alpha, beta).backward()
    # grad_h = -(alpha/beta) (pi_i - pi_0) / N with N = 2 samples, alpha/beta = 0.25:
    # state 1: pi_i - pi_0 = [0.25, 0, -0.25] -> -0.125 * that = [-1/32, 0, 1/32]
    # state 2: pi_i - pi_0 = [1/3 - 1/2, 1/3 - 1/4, 1/3 - 1/4] = [-1/6, 1/12, 1/12]
    #          -> [1/48, -1/96, -1/96]
    expected = torch.tensor([[-1 / 32, 0.0, 1 / 32], [1 / 48, -1 / 96, -1 / 96]], dtype=torch.float64)
    torch.testing.assert_close(h.grad, expected)
    # identical to the general formula, and pi_i gets no gradient (detached inside)
    pi_i, pi_0 = torch.tensor(PI_I, dtype=torch.float64), torch.tensor(PI_0, dtype=torch.float64)
    torch.testing.assert_close(h.grad, -(alpha / beta) * (pi_i - pi_0) / 2)
    assert task_logits.grad is None


def test_distill_descent_moves_pi0_towards_pi_and_is_stationary_at_pi():
    task_logits = logits_of(PI_I)
    h = logits_of(PI_0).requires_grad_()
    kl_before = kl_divergence(task_logits, h.detach()).sum()
    distill_loss(task_logits, h, 1.0, 1.0).backward()
    with torch.no_grad():
        h_after = h - 0.5 * h.grad
    assert kl_divergence(task_logits, h_after).sum() < kl_before
    # at pi_0 = pi_i the gradient vanishes
    h_fixed = (task_logits + 4.0).requires_grad_()
    distill_loss(task_logits, h_fixed, 1.0, 1.0).backward()
    assert h_fixed.grad.abs().max().item() < 1e-12


def test_alpha_zero_gives_pi0_no_gradient_one_column():
    # One column: pi_i = softmax(f), pi_0 = softmax(h); alpha = 0 (A3C with a pi_0 on the side).
    gen = torch.Generator().manual_seed(1)
    f = torch.randn(4, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    h = torch.randn(4, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    actions = torch.randint(0, 3, (4, 2), generator=gen)
    rewards = torch.randn(4, 2, generator=gen, dtype=torch.float64)
    values = torch.randn(4, 2, generator=gen, dtype=torch.float64)
    log_pi_a = action_log_probs(f, actions)
    log_pi0_a = action_log_probs(h, actions)  # real pi_0 values: still no path to h
    reward_reg = regularised_reward(rewards, log_pi0_a, log_pi_a, alpha=0.0, beta=3.0)
    returns = n_step_returns(reward_reg, torch.zeros(4, 2), torch.zeros(2, dtype=torch.float64), 0.9)
    loss = policy_gradient_loss(log_pi_a, returns - values) + distill_loss(f, h, alpha=0.0, beta=3.0)
    loss.backward()
    assert torch.equal(h.grad, torch.zeros_like(h))
    assert f.grad.abs().sum() > 0


def test_alpha_zero_gives_pi0_no_gradient_two_column():
    gen = torch.Generator().manual_seed(2)
    h = torch.randn(3, 2, 3, generator=gen, requires_grad=True)
    beta_f = torch.randn(3, 2, 3, generator=gen, requires_grad=True)
    out = actor_critic_loss(
        two_column_logits(h, beta_f, alpha=0.0), torch.randint(0, 3, (3, 2), generator=gen),
        torch.randn(3, 2, generator=gen), torch.zeros(3, 2), torch.zeros(3, 2, requires_grad=True),
        torch.zeros(2), gamma=0.9, alpha=0.0, beta=2.0, pi0_logits=h,
    )
    out.total.backward()
    assert torch.equal(h.grad, torch.zeros_like(h))
    assert beta_f.grad.abs().sum() > 0


# ---------------------------------------------------------------- combined loss


def test_actor_critic_loss_hand_value():
    # T = 2, B = 1, A = 2. pi_i = [0.5, 0.5] at both steps, pi_0 = [0.75, 0.25]; actions 0 then 1.
    task_logits = logits_of([[[0.5, 0.5]], [[0.5, 0.5]]]).requires_grad_()
    pi0_logits = logits_of([[[0.75, 0.25]], [[0.75, 0.25]]]).requires_grad_()
    actions = torch.tensor([[0], [1]])
    rewards = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    values = torch.tensor([[0.5], [0.0]], dtype=torch.float64, requires_grad=True)
    alpha, beta, gamma = 1.0, 1.0, 0.5
    out = actor_critic_loss(task_logits, actions, rewards, torch.zeros(2, 1), values,
                            torch.tensor([2.0], dtype=torch.float64), gamma=gamma, alpha=alpha, beta=beta,
                            pi0_logits=pi0_logits)
    # R_reg = R + log pi_0(a) - log pi_i(a): t0: 1 + ln0.75 + ln2 = 1 + ln1.5; t1: 0 + ln0.25 + ln2 = -ln2
    r0, r1 = 1 + math.log(1.5), -LN2
    # G1 = r1 + 0.5*2 = 1 - ln2; G0 = r0 + 0.5*G1
    g1 = r1 + gamma * 2.0
    g0 = r0 + gamma * g1
    # pg = -mean(ln0.5 * (G0 - 0.5), ln0.5 * (G1 - 0)) = ln2 * (G0 - 0.5 + G1) / 2
    pg = LN2 * ((g0 - 0.5) + g1) / 2
    # value = 0.5 * mean((G0 - 0.5)^2, G1^2)
    vl = 0.5 * ((g0 - 0.5) ** 2 + g1 ** 2) / 2
    # distill = 1 * cross-entropy of pi_i against pi_0 = -(0.5 ln0.75 + 0.5 ln0.25) at both steps
    dl = -(0.5 * math.log(0.75) + 0.5 * math.log(0.25))
    # KL(pi_i || pi_0) = 0.5 ln(0.5/0.75) + 0.5 ln(0.5/0.25) = 0.5 ln(4/3); entropy = ln2
    for got, want in [(out.policy, pg), (out.value, vl), (out.distill, dl), (out.total, pg + vl + dl),
                      (out.kl, 0.5 * math.log(4 / 3)), (out.entropy, LN2)]:
        torch.testing.assert_close(got, torch.tensor(want, dtype=torch.float64))
    assert out.total.requires_grad and not out.policy.requires_grad


def test_actor_critic_loss_requires_pi0_when_alpha_positive():
    with pytest.raises(ValueError, match="pi0_logits is required"):
        actor_critic_loss(torch.zeros(1, 1, 2), torch.zeros(1, 1, dtype=torch.long), torch.zeros(1, 1),
                          torch.zeros(1, 1), torch.zeros(1, 1), torch.zeros(1), gamma=0.9, alpha=0.5, beta=1.0)


# ---------------------------------------------------------------- numerical stability


def test_large_logits_stay_finite():
    big = torch.tensor([[1e4, 0.0, -1e4], [0.0, 1e4, 0.0]], requires_grad=True)
    other = torch.tensor([[-1e4, 0.0, 1e4], [1e4, 0.0, 0.0]], requires_grad=True)
    ent = entropy(big)
    kl = kl_divergence(big, other)
    # a point mass has entropy 0; KL(delta_0 || q) = -log q(0) = 2e4 (state 1), -log q(1) = 1e4 (state 2)
    torch.testing.assert_close(ent, torch.zeros(2))
    torch.testing.assert_close(kl, torch.tensor([2e4, 1e4]))
    dl = distill_loss(big, other, alpha=0.5, beta=1e-3)
    lp = action_log_probs(two_column_logits(other, big, alpha=0.5), torch.tensor([1, 0]))
    reward_reg = regularised_reward(torch.zeros(1, 2), action_log_probs(other, torch.tensor([1, 0])).unsqueeze(0),
                                    lp.unsqueeze(0), alpha=0.5, beta=1e-3)
    total = ent.sum() + kl.sum() + dl + lp.sum()
    total.backward()
    for tensor in [ent, kl, dl, lp, reward_reg, big.grad, other.grad]:
        assert torch.isfinite(tensor).all()
