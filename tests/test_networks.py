"""Batched per-task columns: one forward pass must equal K separate networks."""

import pytest
import torch

from distral_repro.networks import Columns, DistralNet

torch.set_num_threads(1)
OBS = (4, 5, 5)
A = 6


def _inputs(k, m, seed=0):
    g = torch.Generator().manual_seed(seed)
    obs = (torch.rand((k, m, *OBS), generator=g) < 0.3).to(torch.uint8)
    action = torch.randint(0, A, (k, m), generator=g)
    reward = torch.randn((k, m), generator=g)
    return obs, action, reward


def _single_column(cols: Columns, k: int) -> Columns:
    """A K=1 Columns holding column k's parameters."""
    one = Columns(1, OBS, A, hidden=cols.hidden)
    with torch.no_grad():
        for (name, p_one), (_, p_all) in zip(one.named_parameters(), cols.named_parameters()):
            p_one.copy_(p_all[k : k + 1])
    return one


def test_batched_columns_equal_separate_columns():
    torch.manual_seed(0)
    cols = Columns(3, OBS, A, hidden=8)
    obs, action, reward = _inputs(3, 5)
    state = cols.initial_state(5)
    hidden, _ = cols.recur(cols.encode(obs, action, reward), state)
    logits = cols.logits(hidden)
    for k in range(3):
        one = _single_column(cols, k)
        h1, _ = one.recur(one.encode(obs[k : k + 1], action[k : k + 1], reward[k : k + 1]), one.initial_state(5))
        torch.testing.assert_close(one.logits(h1)[0], logits[k])


def test_encoder_convolution_is_conv2d():
    """The gathered patches times the conv weights are exactly a 3x3 valid convolution."""
    torch.manual_seed(0)
    cols = Columns(2, OBS, A, hidden=8, conv_channels=3)
    obs, action, reward = _inputs(2, 4)
    for k in range(2):
        # conv_w is [K, C*3*3, out] in unfold's (channel, ky, kx) order.
        weight = cols.conv_w[k].t().reshape(3, OBS[0], 3, 3)
        expected = torch.relu(torch.nn.functional.conv2d(obs[k].float(), weight, cols.conv_b[k, 0]))  # [M, out, 3, 3]
        fc_in = expected.flatten(2).transpose(1, 2).reshape(4, -1)  # position-major, as the encoder flattens
        features = torch.relu(fc_in @ cols.fc_w[k] + cols.fc_b[k])
        lstm_in = torch.cat([features, torch.nn.functional.one_hot(action[k], A).float(), reward[k, :, None]], dim=-1)
        torch.testing.assert_close(cols.encode(obs, action, reward)[k], lstm_in @ cols.ih_w[k] + cols.lstm_b[k])


def test_columns_differ_per_task():
    torch.manual_seed(0)
    cols = Columns(2, OBS, A, hidden=8)
    obs, action, reward = _inputs(1, 4)
    both = torch.cat([obs, obs]), torch.cat([action, action]), torch.cat([reward, reward])
    hidden, _ = cols.recur(cols.encode(*both), cols.initial_state(4))
    assert not torch.allclose(hidden[0], hidden[1])


def _sequence(steps, n, seed=1):
    g = torch.Generator().manual_seed(seed)
    obs = (torch.rand((steps, n, *OBS), generator=g) < 0.3).to(torch.uint8)
    action = torch.randint(0, A, (steps, n), generator=g)
    reward = torch.randn((steps, n), generator=g)
    starts = torch.rand((steps, n), generator=g) < 0.3
    return obs, action, reward, starts


@pytest.mark.parametrize("has_h,has_f", [(True, True), (True, False), (False, True)])
def test_unroll_equals_step_by_step(has_h, has_f):
    """The learner acts one step at a time and recomputes the unroll at once: both must agree."""
    torch.manual_seed(0)
    net = DistralNet(2, OBS, A, has_h=has_h, has_f=has_f, hidden=8)
    obs, action, reward, starts = _sequence(4, 6)
    state0 = net.initial_state(6)
    logits, values, final = net.unroll(obs, action, reward, starts, state0)
    state = state0
    for t in range(4):
        step_logits, step_values, state = net.unroll(obs[t : t + 1], action[t : t + 1], reward[t : t + 1], starts[t : t + 1], state)
        for name in logits:
            torch.testing.assert_close(step_logits[name][0], logits[name][t])
        torch.testing.assert_close(step_values[0], values[t])
    for name in final:
        torch.testing.assert_close(state[name][0], final[name][0])


def test_episode_start_resets_the_memory():
    torch.manual_seed(0)
    net = DistralNet(2, OBS, A, has_h=True, has_f=True, hidden=8)
    obs, action, reward, _ = _sequence(3, 4)
    starts = torch.zeros(3, 4, dtype=torch.bool)
    starts[2] = True
    _, values, _ = net.unroll(obs, action, reward, starts, net.initial_state(4))
    _, fresh, _ = net.unroll(obs[2:], action[2:], reward[2:], starts[2:], net.initial_state(4))
    torch.testing.assert_close(values[2], fresh[0])


def test_value_heads_are_per_task():
    """Task-major rows: rows of task k use value head k, also on the shared column (A3C_multitask)."""
    torch.manual_seed(0)
    net = DistralNet(2, OBS, A, has_h=True, has_f=False, hidden=8)
    obs, action, reward, starts = _sequence(1, 4)
    obs[:, 2:] = obs[:, :2]
    action[:, 2:] = action[:, :2]
    reward[:, 2:] = reward[:, :2]
    starts[:] = True
    logits, values, _ = net.unroll(obs, action, reward, starts, net.initial_state(4))
    torch.testing.assert_close(logits["h"][0, :2], logits["h"][0, 2:])  # one shared policy
    with torch.no_grad():
        net.value.w[1].add_(1.0)
    _, shifted, _ = net.unroll(obs, action, reward, starts, net.initial_state(4))
    torch.testing.assert_close(shifted[0, :2], values[0, :2])
    assert not torch.allclose(shifted[0, 2:], values[0, 2:])


def test_bad_view_is_rejected():
    with pytest.raises(ValueError, match="square"):
        Columns(1, (3, 2, 2), A)


def test_state_after_and_column_subset():
    """Running a subset of columns, and the state after fewer steps than the unroll."""
    torch.manual_seed(0)
    net = DistralNet(2, OBS, A, has_h=True, has_f=True, hidden=8)
    obs, action, reward, starts = _sequence(5, 4)
    state = net.initial_state(4)
    _, _, full = net.unroll(obs[:3], action[:3], reward[:3], starts[:3], state)
    logits, values, partial = net.unroll(obs, action, reward, starts, state, state_after=3)
    for name in full:
        torch.testing.assert_close(partial[name][1], full[name][1])
    h_only, no_values, h_state = net.unroll(obs, action, reward, starts, state, columns=("h",))
    assert set(h_only) == {"h"} and no_values is None and set(h_state) == {"h"}
    torch.testing.assert_close(h_only["h"], logits["h"])
