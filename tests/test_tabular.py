"""Tests of the grid-world experiment: soft-Q maths, distillation, the run and figure CLIs, claim C7."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import distral_repro.envs as envs
from distral_repro.analysis.runs import load_gridworld_run
from distral_repro.envs.gridworld import GOAL_REWARD, NUM_ACTIONS, NUM_TASKS, two_room_map
from distral_repro.gridworld import main as gridworld_main
from distral_repro.tabular.experiment import (
    TabularConfig,
    episodes_to_solve,
    preset_config,
    run_experiment,
    sample_actions,
)
from distral_repro.tabular.figure import main as figure_main
from distral_repro.tabular.softq import (
    check_soft_q_settings,
    distil_prior,
    nstep_soft_targets,
    regulariser,
    soft_bellman_backup,
    soft_policy_log,
    soft_q_update,
    soft_value,
    soft_value_iteration,
)

# ----------------------------------------------------------------------------- a 2-state MDP solved by hand
#
# State 0: action 0 stays in 0 with reward 1; action 1 moves to state 1 with reward 0.
# State 1 is absorbing with reward 0 for both actions. Uniform prior pi_0 = 1/2.

REWARD = np.array([[1.0, 0.0], [0.0, 0.0]])
TRANSITION = np.zeros((2, 2, 2))
TRANSITION[0, 0, 0] = TRANSITION[0, 1, 1] = TRANSITION[1, :, 1] = 1.0
UNIFORM = np.log(np.full((2, 2), 0.5))


def test_soft_value_iteration_matches_the_hand_solution_with_the_kl_prior():
    """alpha = 1, beta = 1, gamma = 1/2.

    V(1) = gamma V(1) + log(1/2 + 1/2) => V(1) = 0.
    V(0) = log(1/2 e^{1 + V(0)/2} + 1/2); with y = e^{V(0)/2}: y^2 = (e/2) y + 1/2,
    y = (e/2 + sqrt(e^2/4 + 2)) / 2, V(0) = 2 log y = 1.013988...; Q(0,0) = 1 + V(0)/2, Q(0,1) = 0.
    """
    y = (math.e / 2 + math.sqrt(math.e**2 / 4 + 2)) / 2
    v0 = 2 * math.log(y)
    assert v0 == pytest.approx(1.013988, abs=1e-6)
    q = soft_value_iteration(REWARD, TRANSITION, UNIFORM, alpha=1.0, beta=1.0, gamma=0.5)
    np.testing.assert_allclose(q, [[1 + v0 / 2, 0.0], [0.0, 0.0]], atol=1e-10)
    np.testing.assert_allclose(soft_value(q, UNIFORM, 1.0, 1.0), [v0, 0.0], atol=1e-10)
    # The fixed point is a fixed point of one backup.
    np.testing.assert_allclose(soft_bellman_backup(q, REWARD, TRANSITION, UNIFORM, 1.0, 1.0, 0.5), q, atol=1e-10)


def test_entropy_only_pays_log_a_per_step_in_the_absorbing_state():
    """alpha = 0: V(1) = gamma V(1) + (1/beta) log 2 => V(1) = log 2 / (beta (1 - gamma))."""
    q = soft_value_iteration(REWARD, TRANSITION, UNIFORM, alpha=0.0, beta=2.0, gamma=0.5)
    assert soft_value(q, UNIFORM, 0.0, 2.0)[1] == pytest.approx(math.log(2) / (2.0 * 0.5))


def test_as_beta_grows_the_soft_backup_approaches_the_hard_max():
    # Hard value iteration: V(0) = max(1 + V(0)/2, V(1)/2) = 2, V(1) = 0.
    hard = np.array([[2.0, 0.0], [0.0, 0.0]])
    errors = []
    for beta in (1.0, 10.0, 100.0, 1000.0):
        q = soft_value_iteration(REWARD, TRANSITION, UNIFORM, alpha=1.0, beta=beta, gamma=0.5)
        errors.append(np.abs(q - hard).max())
    assert all(a > b for a, b in zip(errors, errors[1:]))
    assert errors[-1] < 2e-3
    # One backup: max Q + (1/beta) log pi_0(argmax) <= V <= max Q, so V -> max Q.
    rng = np.random.default_rng(0)
    q = rng.normal(size=(5, 4))
    prior = np.log(rng.dirichlet(np.ones(4), size=5))
    for beta in (1.0, 10.0, 1e4):
        value = soft_value(q, prior, 1.0, beta)
        top = q.max(axis=1)
        assert (value <= top + 1e-12).all()
        assert (value >= top + prior[np.arange(5), q.argmax(axis=1)] / beta - 1e-12).all()
    np.testing.assert_allclose(soft_value(q, prior, 1.0, 1e6), q.max(axis=1), atol=1e-4)


def test_the_soft_policy_is_normalised_and_the_regulariser_is_v_minus_q():
    """Eq. 2 gives V(s) = Q(s,a) + (alpha/beta) log pi_0(a|s) - (1/beta) log pi(a|s) for every a."""
    rng = np.random.default_rng(1)
    q = rng.normal(size=(6, 4))
    log_prior = np.log(rng.dirichlet(np.ones(4), size=6))
    for alpha, beta in ((1.0, 5.0), (0.5, 2.0), (0.0, 0.7)):
        log_policy = soft_policy_log(q, log_prior, alpha, beta)
        np.testing.assert_allclose(np.exp(log_policy).sum(axis=1), 1.0)
        value = soft_value(q, log_prior, alpha, beta)
        np.testing.assert_allclose(q + regulariser(log_prior, log_policy, alpha, beta), value[:, None] * np.ones(4))


# ----------------------------------------------------------------------------- n-step targets


def test_nstep_targets_include_the_intermediate_regularisation_terms():
    """r = (0, 0, 1), reg = (-, -0.2, -0.1), V(s_3) = 0.5, gamma = 0.9:
    G2 = 1 + 0.9 * 0.5 = 1.45; G1 = 0.9 (-0.1 + 1.45) = 1.215; G0 = 0.9 (-0.2 + 1.215) = 0.9135."""
    rewards = np.array([[0.0], [0.0], [1.0]])
    regs = np.array([[99.0], [-0.2], [-0.1]])  # reg_0 never enters: Q(s_0, a_0) is conditioned on a_0
    next_values = np.array([[7.0], [2.0], [0.5]])
    no = np.zeros((3, 1), dtype=bool)
    targets = nstep_soft_targets(rewards, regs, next_values, no, no, gamma=0.9)
    np.testing.assert_allclose(targets[:, 0], [0.9135, 1.215, 1.45])
    # Terminated at step 1: no bootstrap there; step 2 belongs to the next episode.
    terminated = no.copy()
    terminated[1] = True
    targets = nstep_soft_targets(rewards, regs, next_values, terminated, no, gamma=0.9)
    np.testing.assert_allclose(targets[:, 0], [0.9 * -0.2, 0.0, 1.45])
    # Truncated (time limit) at step 1: bootstrap from V(s'_1) = 2.
    targets = nstep_soft_targets(rewards, regs, next_values, no, terminated, gamma=0.9)
    np.testing.assert_allclose(targets[:, 0], [0.9 * (-0.2 + 1.8), 1.8, 1.45])


def test_soft_q_update_moves_each_visit_by_the_learning_rate():
    q = np.zeros((1, 2, 2))
    index = (np.array([0, 0, 0]), np.array([0, 0, 1]), np.array([1, 1, 0]))
    soft_q_update(q, index, np.array([1.0, 3.0, -2.0]), learning_rate=0.1)
    # Two visits of (0, 0, 1) each contribute 0.1 * (target - 0).
    np.testing.assert_allclose(q[0], [[0.0, 0.4], [-0.2, 0.0]])


# ----------------------------------------------------------------------------- distillation (eq. 5)


def test_distillation_is_proportional_to_visitation_summed_over_tasks():
    visitation = np.zeros((2, 4, 2))
    visitation[0, 0] = [3.0, 1.0]
    visitation[1, 0] = [0.0, 4.0]  # state 0: (3, 5) / 8
    visitation[1, 1] = [2.0, 2.0]  # state 1: only task 1 visits
    visitation[0, 2] = [0.1, 0.0]
    visitation[1, 2] = [0.0, 0.9]  # state 2: weighted by visitation, not an average of the tasks' policies
    prior = distil_prior(visitation)
    np.testing.assert_allclose(prior, [[3 / 8, 5 / 8], [0.5, 0.5], [0.1, 0.9], [0.5, 0.5]], atol=1e-11)
    with pytest.raises(ValueError, match="non-negative"):
        distil_prior(-visitation)


# ----------------------------------------------------------------------------- the map and the env agree


def test_the_env_family_and_the_tabular_map_share_one_definition():
    grid = two_room_map()
    env = envs.make_family("gridworld", num_workers=2, seed=0)
    assert env.num_tasks == NUM_TASKS and env.workers_per_task == 2
    np.testing.assert_array_equal(env.task_ids, np.repeat(np.arange(NUM_TASKS), 2))
    env.reset()
    width, pad = env.width, (env.width - grid.walls.shape[1]) // 2

    def location(flat):
        return np.array([grid.location_of(int(c) // width - pad, int(c) % width - pad) for c in flat])

    here = location(env.position)
    np.testing.assert_array_equal(here, np.repeat(grid.start_location, 2))
    rng = np.random.default_rng(0)
    ends = 0
    for _ in range(300):
        actions = rng.integers(0, NUM_ACTIONS, env.num_envs)
        expected = grid.next_location[here, actions]
        _, reward, terminated, truncated, info = env.step(actions)
        reached = expected == np.repeat(grid.goal_location, 2)
        np.testing.assert_array_equal(terminated, reached)
        np.testing.assert_array_equal(reward, np.where(reached, GOAL_REWARD, 0.0))
        ended = terminated | truncated
        if ended.any():
            ends += ended.sum()
            np.testing.assert_array_equal(info["_episode_return"], ended)
        here = np.where(ended, np.repeat(grid.start_location, 2), expected)
        np.testing.assert_array_equal(location(env.position), here)
    assert ends >= env.num_envs  # at least the 100-step time limits


def _shortest_path_lengths() -> list[int]:
    """Breadth-first search on the tabular map, start to goal of each task."""
    grid = two_room_map()
    lengths = []
    for start, goal in zip(grid.start_location, grid.goal_location):
        frontier, seen, steps = {int(start)}, {int(start)}, 0
        while goal not in frontier:
            frontier = {int(n) for c in frontier for n in grid.next_location[c]} - seen
            seen |= frontier
            steps += 1
        lengths.append(steps)
    return lengths


def test_a_shortest_path_policy_reaches_every_goal_in_the_fewest_steps():
    env = envs.make_family("gridworld", num_workers=1, seed=0)
    env.reset()
    first_goal = np.zeros(env.num_envs, dtype=int)
    for step in range(1, 31):
        _, reward, terminated, *_ = env.step(env.scripted_actions())
        assert (reward[terminated] == GOAL_REWARD).all()
        first_goal = np.where(terminated & (first_goal == 0), step, first_goal)
    assert list(first_goal) == _shortest_path_lengths() == [17, 15, 14, 13]


def test_sampling_follows_the_policy():
    log_policy = np.log(np.tile([0.1, 0.2, 0.3, 0.4], (40_000, 1)))
    actions = sample_actions(log_policy, np.random.default_rng(0).random(40_000))
    np.testing.assert_allclose(np.bincount(actions, minlength=4) / 40_000, [0.1, 0.2, 0.3, 0.4], atol=0.01)


def test_episodes_to_solve_counts_to_the_end_of_the_first_streak():
    reached = np.array([1, 0, 1, 1, 1, 0, 1, 1, 1, 1], dtype=bool)
    assert episodes_to_solve(reached, streak=3) == 5
    assert episodes_to_solve(reached, streak=4) == 10
    assert episodes_to_solve(reached, streak=5) is None


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: check_soft_q_settings(1.5, 5.0), r"alpha must be a number in \[0, 1\]"),
        (lambda: check_soft_q_settings(-0.1, 5.0), r"alpha must be a number in \[0, 1\]"),
        (lambda: check_soft_q_settings(1.0, 0.0), "beta must be a finite number > 0"),
        (lambda: check_soft_q_settings(1.0, -2.0), "beta must be a finite number > 0"),
        (lambda: check_soft_q_settings(1.0, 5.0, 0.95, 0), "n_steps must be an integer >= 1"),
        (lambda: check_soft_q_settings(1.0, 5.0, 1.0), r"gamma must be a number in \[0, 1\)"),
        (lambda: preset_config("a3c"), "valid: distral, separate"),
        (lambda: preset_config("distral", "huge"), "valid: smoke, default, paper"),
        (lambda: preset_config("distral", n_steps=0), "n_steps must be an integer >= 1"),
        (lambda: preset_config("distral", alpha=2.0), r"alpha must be a number in \[0, 1\]"),
        (lambda: preset_config("distral", colour=1), "unknown setting"),
        (lambda: run_experiment(TabularConfig(beta=-1.0), seed=0), "beta must be"),
        (lambda: envs.make_family("gridworld", 2, 0, size=9), "valid: episode_length, reward_scale"),
    ],
)
def test_bad_input_gives_one_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ----------------------------------------------------------------------------- the run CLI and the figure CLI


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("gridworld")
    dirs = []
    for method in ("distral", "separate"):
        for seed in (0, 1):
            out = root / method / f"seed{seed}"
            assert gridworld_main(["--method", method, "--seed", str(seed), "--out", str(out),
                                   "--preset", "smoke", "--episodes", "40"]) == 0
            dirs.append(out)
    return dirs


def test_the_cli_writes_a_run_that_the_analysis_loads(run_dirs):
    for out in run_dirs:
        run = load_gridworld_run(out)
        summary = json.loads((out / "summary.json").read_text())
        assert run.status == "ok" and run.tasks == tuple(range(NUM_TASKS))
        assert summary["method"] == out.parent.name and summary["preset"] == "smoke"
        assert summary["config"]["episodes"] == 40 and summary["config"]["beta"] == 5.0
        progress = run.progress
        assert len(progress) == 40 * NUM_TASKS
        assert sorted(progress["episode"].unique()) == list(range(40))
        # final = mean over the last 10% (4) episodes, auc = mean over all, per task.
        for task, rows in progress.groupby("task"):
            rows = rows.sort_values("episode")
            assert run.final_return[task] == pytest.approx(rows["episode_return"].iloc[-4:].mean())
            assert run.auc_return[task] == pytest.approx(rows["episode_return"].mean())
        assert ((progress["reached_goal"] == 1) == (progress["episode_return"] > 0)).all()
        assert (progress["episode_length"] <= 100).all()
        pi0 = summary["pi0"]
        if summary["method"] == "separate":
            assert pi0 is None
        else:
            probabilities = np.array(pi0["probabilities"])
            assert probabilities.shape == (two_room_map().num_locations, NUM_ACTIONS + 1, NUM_ACTIONS)
            np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-5)
            assert summary["wall_time_s"] > 0 and summary["version"]


def test_the_same_seed_gives_the_same_run(run_dirs, tmp_path):
    again = tmp_path / "again"
    assert gridworld_main(["--method", "distral", "--seed", "0", "--out", str(again),
                           "--preset", "smoke", "--episodes", "40"]) == 0
    first = run_dirs[0]
    assert (again / "progress.csv").read_bytes() == (first / "progress.csv").read_bytes()
    assert json.loads((again / "summary.json").read_text())["pi0"] == json.loads((first / "summary.json").read_text())["pi0"]
    other = load_gridworld_run(run_dirs[1]).progress  # seed 1 differs
    assert not other["episode_length"].equals(load_gridworld_run(first).progress["episode_length"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--method", "a3c", "--seed", "0"], "valid: distral, separate"),
        (["--method", "distral", "--seed", "0", "--preset", "huge"], "valid: smoke, default, paper"),
        (["--method", "distral", "--seed", "-1"], "seed must be an integer >= 0"),
        (["--method", "distral", "--seed", "x"], "invalid int value"),
        (["--method", "distral", "--seed", "0", "--episodes", "0"], "episodes must be an integer >= 1"),
        (["--method", "distral"], "required: --seed"),
    ],
)
def test_bad_cli_arguments_write_nothing(tmp_path, capsys, args, message):
    out = tmp_path / "run"
    assert gridworld_main(args + ["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_an_out_path_that_is_a_file_is_refused(tmp_path, capsys):
    out = tmp_path / "file"
    out.write_text("x")
    assert gridworld_main(["--method", "distral", "--seed", "0", "--out", str(out)]) == 2
    assert "not a directory" in capsys.readouterr().err and out.read_text() == "x"


def test_the_figure_cli_writes_pdf_and_png(run_dirs, tmp_path, capsys):
    out = tmp_path / "figs" / "fig3_gridworld.pdf"
    assert figure_main(["--out", str(out)] + [str(d) for d in run_dirs]) == 0
    assert out.read_bytes()[:4] == b"%PDF"
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["fig3_gridworld.pdf", "fig3_gridworld.png"]


def test_the_figure_cli_names_a_missing_run_dir(run_dirs, tmp_path, capsys):
    missing = tmp_path / "distral" / "seed9"
    out = tmp_path / "fig.pdf"
    assert figure_main(["--out", str(out), str(run_dirs[0]), str(missing)]) == 1
    assert str(missing) in capsys.readouterr().err
    assert not out.exists() and not out.with_suffix(".png").exists()


# ----------------------------------------------------------------------------- claim C7 end to end


def test_distral_reaches_the_goals_in_fewer_episodes_than_separate_soft_q():
    """C7 on fixed seeds: every Distral task is solved (10 goals in a row) and on average in
    less than half the episodes separate soft-Q needs (measured: about 5x fewer at 1000
    episodes; unsolved tasks count as the episode budget, which favours the baseline)."""
    budget = 300
    needed = {}
    for method in ("distral", "separate"):
        counts = []
        for seed in (0, 1):
            result = run_experiment(preset_config(method, episodes=budget), seed)
            for task in range(NUM_TASKS):
                solved = episodes_to_solve(result.reached_goal[result.task == task])
                if method == "distral":
                    assert solved is not None, f"distral seed {seed} task {task} not solved in {budget} episodes"
                counts.append(budget if solved is None else solved)
            if method == "separate":
                np.testing.assert_allclose(result.prior, 1.0 / NUM_ACTIONS)  # no coupling: pi_0 stays uniform
        needed[method] = float(np.mean(counts))
    assert needed["distral"] < 0.5 * needed["separate"], needed
