"""The seven algorithms as one learner: the table, the logits, which column learns from what."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from distral_repro.config import ALGORITHMS, ConfigError, Hyper, make_run_config
from distral_repro.learner import Learner, sample_actions, task_policy_logits

torch.set_num_threads(1)


def test_algorithm_table_matches_spec():
    """SPEC §4: parameterisation and alpha of each of the seven algorithms."""
    expected = {
        "A3C": ("separate", 0.0),
        "A3C_multitask": ("shared", 0.0),
        "A3C_2col": ("two_column", 0.0),
        "KL_1col": ("one_column", 1.0),
        "KL+ent_1col": ("one_column", 0.5),
        "KL_2col": ("two_column", 1.0),
        "KL+ent_2col": ("two_column", 0.5),
    }
    assert {name: (a.parameterisation, a.alpha) for name, a in ALGORITHMS.items()} == expected
    # eq. 8: the two-column Distral logits weight h by alpha; A3C_2col uses h + f (SPEC CHOICE).
    assert ALGORITHMS["KL_2col"].h_coef == 1.0
    assert ALGORITHMS["KL+ent_2col"].h_coef == 0.5
    assert ALGORITHMS["A3C_2col"].h_coef == 1.0


def test_task_policy_logits_per_parameterisation():
    h = torch.tensor([[1.0, 2.0, 0.0]])
    f = torch.tensor([[0.5, -1.0, 3.0]])
    cols = {"h": h, "f": f}
    task, pi0 = task_policy_logits(ALGORITHMS["A3C"], {"f": f})
    assert torch.equal(task, f) and pi0 is None
    task, pi0 = task_policy_logits(ALGORITHMS["A3C_multitask"], {"h": h})
    assert torch.equal(task, h) and pi0 is None
    task, pi0 = task_policy_logits(ALGORITHMS["A3C_2col"], cols)
    torch.testing.assert_close(task, torch.tensor([[1.5, 1.0, 3.0]]))
    assert pi0 is None  # no KL term: h learns only through the task gradients
    task, pi0 = task_policy_logits(ALGORITHMS["KL+ent_1col"], cols)
    assert torch.equal(task, f) and torch.equal(pi0, h)
    task, pi0 = task_policy_logits(ALGORITHMS["KL+ent_2col"], cols)
    torch.testing.assert_close(task, torch.tensor([[1.0, 0.0, 3.0]]))  # 0.5 h + f
    assert torch.equal(pi0, h)


def test_sample_actions_follow_the_softmax():
    g = torch.Generator().manual_seed(0)
    logits = torch.log(torch.tensor([0.2, 0.5, 0.3])).expand(20000, 3)
    counts = torch.bincount(sample_actions(logits, g), minlength=3).double() / 20000
    torch.testing.assert_close(counts, torch.tensor([0.2, 0.5, 0.3], dtype=torch.double), atol=0.015, rtol=0)


def _learner(algo, env="maze", **budget):
    budget = {"steps_per_task": 80, "workers": 2, "unroll": 5, **budget}
    return Learner(make_run_config(algo, env, "100", "1e-3", 0, "smoke", **budget))


def _grads_after_one_update(learner):
    start = {k: (h.detach(), c.detach()) for k, (h, c) in learner.lstm.items()}
    batch = learner._act()
    learner.optimizer.zero_grad()
    before = {n: p.detach().clone() for n, p in learner.net.named_parameters()}
    learner._learn(batch, start)
    return {n: p.grad for n, p in learner.net.named_parameters()}, before


@pytest.mark.parametrize("algo", ["KL_1col", "KL+ent_1col"])
def test_one_column_pi0_learns_only_by_distillation(algo):
    """In 1col variants h is pi_0 only: its gradient is exactly the distillation gradient."""
    learner = _learner(algo)
    grads, _ = _grads_after_one_update(learner)
    h_grads = [g for n, g in grads.items() if n.startswith("h.")]
    assert all(g is not None for g in h_grads) and any(g.abs().sum() > 0 for g in h_grads)


def test_a3c_has_no_shared_column_and_a3c_2col_trains_h_by_task_gradients():
    assert Learner(make_run_config("A3C", "maze", "100", "1e-3", 0, "smoke")).net.h is None
    learner = _learner("A3C_2col")
    grads, _ = _grads_after_one_update(learner)
    assert any(g.abs().sum() > 0 for n, g in grads.items() if n.startswith("h."))


def test_each_task_column_learns_only_from_its_own_task():
    """Batched per-task parameters: zero the rewards and returns of task 1 by masking its
    loss contribution -> column 0's gradient is unchanged (tasks do not leak into each other)."""
    learner = _learner("A3C")
    start = {k: (h.detach(), c.detach()) for k, (h, c) in learner.lstm.items()}
    batch = learner._act()
    logits, values, _ = learner.net.unroll(batch["obs"], batch["prev_action"], batch["prev_reward"], batch["starts"], start)
    w = learner.env.workers_per_task
    loss_task0 = logits["f"][:, :w].sum() + values[:, :w].sum()
    loss_task0.backward()
    grad = learner.net.f.fc_w.grad
    assert grad[0].abs().sum() > 0
    assert torch.count_nonzero(grad[1:]) == 0


def test_run_reaches_its_budget_and_logs_every_task():
    learner = _learner("KL+ent_2col", steps_per_task=200, workers=2, unroll=5)
    while not learner.done:
        learner.train_update()
    assert learner.status == "ok"
    assert learner.steps_per_task >= 200
    steps = sorted({r["step"] for r in learner.progress})
    assert steps[-1] == learner.steps_per_task
    assert {r["task"] for r in learner.progress} == set(range(8))
    # every evaluation interval spans at least one episode (smoke maze: 50 steps)
    assert all(r["episodes"] >= 1 for r in learner.progress)
    final, auc = learner.returns_by_task()
    assert set(final) == set(range(8)) and all(math.isfinite(v) for v in final.values())
    assert learner.pi0_final_by_task() is not None


def test_pi0_evaluation_runs_the_task_policies_on_the_same_episodes():
    """C6's matched evaluation. Limiting case: A3C_multitask's task policy *is* its pi_0 (the
    shared column h), so on the same episodes (same env seed, same sampling seed) both returns
    are equal, row for row. For a two-column Distral they differ (pi_0 alone is another policy)."""
    for algo, same in (("A3C_multitask", True), ("KL+ent_2col", False)):
        learner = _learner(algo, steps_per_task=400, workers=2, unroll=5)
        while not learner.done:
            learner.train_update()
        rows = learner.pi0_progress
        assert rows and all(set(r) == {"step", "task", "episode_return", "task_policy_return"} for r in rows)
        assert {r["task"] for r in rows} == set(range(8))
        equal = [r["episode_return"] == r["task_policy_return"] for r in rows]
        assert all(equal) if same else not all(equal), algo


def test_same_seed_same_run():
    a, b = _learner("KL_2col"), _learner("KL_2col")
    for learner in (a, b):
        while not learner.done:
            learner.train_update()
    assert a.progress == b.progress
    for (n, p), (_, q) in zip(a.net.named_parameters(), b.net.named_parameters()):
        assert torch.equal(p, q), n


def test_state_dict_round_trip_continues_identically():
    a = _learner("KL+ent_1col", steps_per_task=100)
    b = _learner("KL+ent_1col", steps_per_task=100)
    for _ in range(3):
        a.train_update()
    b.load_state_dict(a.state_dict())
    while not a.done:
        a.train_update()
    while not b.done:
        b.train_update()
    assert a.progress == b.progress
    assert a.pi0_progress == b.pi0_progress


def test_non_finite_loss_marks_the_run_diverged():
    learner = _learner("A3C")
    with torch.no_grad():
        learner.net.f.pi_w.fill_(float("nan"))
    learner.train_update()
    assert learner.status == "diverged"
    assert learner.diverged_at_step == learner.steps_per_task


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(algo="KL"), "unknown algorithm 'KL'; valid: A3C, A3C_multitask"),
        (dict(env="doom"), "unknown environment 'doom'; valid: maze, navigation, lasertag"),
        (dict(beta="0"), "beta must be > 0"),
        (dict(beta="-3e3"), "beta must be > 0"),
        (dict(lr="nan"), "lr must be > 0"),
        (dict(lr="abc"), "lr must be a number"),
        (dict(preset="huge"), "unknown preset 'huge'"),
    ],
)
def test_bad_config_names_the_problem(kwargs, match):
    args = dict(algo="A3C", env="maze", beta="100", lr="1e-3", seed=0)
    args.update(kwargs)
    with pytest.raises(ConfigError, match=match):
        make_run_config(**args)


def _random_policy_return(env, preset, steps_per_task, workers):
    from distral_repro.envs import make_family

    family = make_family(env, num_workers=workers, seed=123, preset=preset)
    family.reset(seed=123)
    rng = np.random.default_rng(0)
    returns = []
    for _ in range(steps_per_task // workers):
        _, _, _, _, info = family.step(rng.integers(0, family.single_action_space.n, family.num_envs))
        if "_episode_return" in info:
            returns.extend(np.asarray(info["episode_return"])[info["_episode_return"]])
    return float(np.mean(returns))


@pytest.mark.parametrize("algo", ["A3C", "A3C_multitask", "KL+ent_1col", "KL+ent_2col"])
def test_time_limit_bootstrap_adds_gamma_times_the_final_value(algo):
    """Hyper.bootstrap_time_limit: at a cut episode the target's reward gains gamma * V(final obs)."""
    config = make_run_config(algo, "maze", "100", "1e-3", 0, "smoke", hyper_overrides={"bootstrap_time_limit": "true"},
                             steps_per_task=200, workers=2, unroll=50)  # smoke maze episodes: 50 steps
    plain, boot = Learner(dataclasses.replace(config, hyper=Hyper(bootstrap_time_limit=False))), Learner(config)
    infos = []
    step = boot.env.step
    boot.env.step = lambda actions: (lambda out: (infos.append(out[-1]), out)[1])(step(actions))
    a, b = plain._act(), boot._act()
    torch.testing.assert_close(a["action"], b["action"])  # acting is unchanged
    cut = b["done"]
    assert cut[-1].all() and not cut[:-1].any()  # every episode ends at the unroll's last step
    torch.testing.assert_close(a["reward"][:-1], b["reward"][:-1])
    gained = b["reward"][-1] - a["reward"][-1]
    # by hand: the value column one step further on the final observation, from the state after the last step
    column = ("f",) if ALGORITHMS[algo].has_f else ("h",)
    _, value, _ = boot.net.unroll(
        torch.from_numpy(np.asarray(infos[-1]["final_obs"]))[None], b["action"][-1][None], a["reward"][-1][None],
        torch.zeros(boot.num_envs, dtype=torch.bool)[None], {name: boot.lstm[name] for name in column}, columns=column,
    )
    torch.testing.assert_close(gained, 0.99 * value[0])
    assert torch.all(gained != 0)


def test_hyper_overrides_are_checked():
    with pytest.raises(ConfigError, match="unknown hyper setting 'eps'"):
        make_run_config("A3C", "maze", "100", "1e-3", 0, hyper_overrides={"eps": "1"})
    with pytest.raises(ConfigError, match="bootstrap_time_limit must be true or false"):
        make_run_config("A3C", "maze", "100", "1e-3", 0, hyper_overrides={"bootstrap_time_limit": "maybe"})
    assert make_run_config("A3C", "maze", "100", "1e-3", 0, hyper_overrides={"rmsprop_eps": "1e-7"}).hyper.rmsprop_eps == 1e-7
