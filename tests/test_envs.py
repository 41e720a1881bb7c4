"""Tests of the task families (distral_repro.envs) and their benchmark."""

from __future__ import annotations

import dataclasses
import importlib.util
import json

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

import distral_repro.envs as envs
from distral_repro.envs.engine import GridTaskVecEnv
from distral_repro.envs.grid import APPLE, BOT, FIRE, FORWARD, GOAL, PAD, TURN_RIGHT, VIEW_SIZE, WALL
from distral_repro.envs.streams import CounterStreams, min_stream_gap, stream_keys
from distral_repro.envs.families import FAMILY_DEFS, PRESETS, family_config

GRID_FAMILIES = ("maze", "navigation", "lasertag")
HAVE_GRIDWORLD = importlib.util.find_spec("distral_repro.envs.gridworld") is not None
ALL_FAMILY_PARAMS = list(GRID_FAMILIES) + [
    pytest.param(
        "gridworld",
        marks=pytest.mark.skipif(not HAVE_GRIDWORLD, reason="distral_repro/envs/gridworld.py is not written yet"),
    )
]


def _single_env(family: str, task: int, **kwargs) -> gymnasium.Env:
    return gymnasium.make(envs.ENV_IDS[family], task=task, **kwargs).unwrapped


# ----------------------------------------------------------------------------- gymnasium contracts


@pytest.mark.parametrize("family", ALL_FAMILY_PARAMS)
def test_check_env_on_every_task(family):
    for task in range(envs.num_tasks(family)):
        env = _single_env(family, task)
        check_env(env, skip_render_check=True)
        env.close()


@pytest.mark.parametrize("family", GRID_FAMILIES)
def test_make_vec_returns_the_native_batched_env(family):
    vec = gymnasium.make_vec(envs.ENV_IDS[family], num_envs=256, vectorization_mode="vector_entry_point", task=1)
    assert isinstance(vec, GridTaskVecEnv)
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (256,) + vec.single_observation_space.shape and obs.dtype == np.uint8
    assert obs in vec.observation_space
    assert (vec.task_ids == 1).all()


@pytest.mark.parametrize("family", GRID_FAMILIES)
def test_make_family_follows_the_batched_env_contract(family):
    env = envs.make_family(family, num_workers=3, seed=0, preset="smoke")
    tasks = envs.num_tasks(family)
    assert env.num_tasks == tasks and env.workers_per_task == 3 and env.num_envs == 3 * tasks
    assert env.task_ids.dtype == np.int64
    np.testing.assert_array_equal(env.task_ids, np.arange(env.num_envs) // 3)
    assert env.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    space = env.single_observation_space
    assert isinstance(space, gymnasium.spaces.Box) and space.dtype == np.uint8
    assert space.shape == (len(FAMILY_DEFS[family].channels), VIEW_SIZE, VIEW_SIZE)
    assert isinstance(env.single_action_space, gymnasium.spaces.Discrete)
    obs, _ = env.reset()
    assert (obs.sum(axis=1) == 1).all(), "one-hot: exactly one cell type per view cell"
    length = env.config.episode_length
    for t in range(length):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert reward.dtype == np.float32 and terminated.dtype == bool and truncated.dtype == bool
        assert truncated.all() == (t == length - 1)
    # SAME_STEP autoreset: the returned obs starts the next episode, the last one is in info.
    assert info["_final_obs"].all() and info["final_obs"].shape == obs.shape
    assert (env.elapsed == 0).all()
    np.testing.assert_array_equal(info["episode_length"], length)


# ----------------------------------------------------------------------------- determinism


def _rollout(env, steps: int, action_seed: int = 1):
    rng = np.random.default_rng(action_seed)
    obs, _ = env.reset()
    trace = [obs]
    for _ in range(steps):
        obs, reward, _, _, _ = env.step(rng.integers(0, env.single_action_space.n, env.num_envs))
        trace += [obs, reward]
    return trace


@pytest.mark.parametrize("family", GRID_FAMILIES)
def test_same_seed_same_trajectory_and_other_seed_differs(family):
    first = _rollout(envs.make_family(family, 2, seed=5, preset="smoke"), 80)
    again = _rollout(envs.make_family(family, 2, seed=5, preset="smoke"), 80)
    other = _rollout(envs.make_family(family, 2, seed=6, preset="smoke"), 80)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


@pytest.mark.parametrize("family", GRID_FAMILIES)
def test_batched_env_and_single_envs_agree_step_for_step(family):
    """Env j of a batch reset with seed s == a single env of its task standing for env j, reset with seed s."""
    vec = envs.make_family(family, num_workers=2, seed=10, preset="smoke")
    singles = [_single_env(family, int(task), preset="smoke", env_index=j) for j, task in enumerate(vec.task_ids)]
    obs, _ = vec.reset()
    for j, single in enumerate(singles):
        np.testing.assert_array_equal(single.reset(seed=10)[0], obs[j])
    rng = np.random.default_rng(3)
    episode_ends = 0
    for _ in range(2 * vec.config.episode_length + 7):  # crosses two autoresets
        actions = rng.integers(0, vec.single_action_space.n, vec.num_envs)
        obs, reward, terminated, truncated, info = vec.step(actions)
        for j, single in enumerate(singles):
            s_obs, s_reward, s_term, s_trunc, _ = single.step(int(actions[j]))
            assert s_reward == pytest.approx(float(reward[j]))
            assert (s_term, s_trunc) == (terminated[j], truncated[j])
            if s_term or s_trunc:
                np.testing.assert_array_equal(s_obs, info["final_obs"][j])
                s_obs, _ = single.reset()
                episode_ends += 1
            np.testing.assert_array_equal(s_obs, obs[j])
    assert episode_ends == 2 * vec.num_envs


def test_reset_with_an_int_seed_equals_the_list_of_that_seed():
    by_int = envs.make_family("navigation", 2, seed=None)
    by_list = envs.make_family("navigation", 2, seed=None)
    np.testing.assert_array_equal(by_int.reset(seed=4)[0], by_list.reset(seed=[4] * 8)[0])
    np.testing.assert_array_equal(by_int.streams.keys, by_list.streams.keys)
    with pytest.raises(ValueError, match="list of 8 ints"):
        by_list.reset(seed=[1, 2])
    with pytest.raises(ValueError, match="non-negative"):
        by_list.reset(seed=-1)


@pytest.mark.parametrize("family", ["maze", "navigation", "lasertag"])
def test_no_stream_is_shared_across_seeds_0_to_63_and_every_env_index(family):
    """Keys (seed, j) for seeds 0-63 and all paper-preset env indices: all distinct, and no
    two streams reach each other's inputs within 2**32 draws (a paper run draws < 2**28 per env)."""
    num_envs = envs.make_family(family, 32, seed=None).num_envs  # the paper preset's 32 workers per task
    seeds, indices = np.repeat(np.arange(64), num_envs), np.tile(np.arange(num_envs), 64)
    keys = stream_keys(seeds, indices)
    assert np.unique(keys).size == keys.size
    assert min_stream_gap(keys) > 2**32
    # the old key of seed + j gave seed 1's env 0 the stream of seed 0's env 1
    assert stream_keys(np.array([1]), np.array([0]))[0] != stream_keys(np.array([0]), np.array([1]))[0]


def test_keys_are_numpys_spawned_seed_sequences():
    children = np.random.SeedSequence(7).spawn(3)
    expected = [c.generate_state(1, np.uint64)[0] for c in children]
    np.testing.assert_array_equal(stream_keys(np.array([7, 7, 7]), np.arange(3)), expected)


def test_stream_gap_counts_draws_to_the_nearest_stream():
    """Keys G*a and G*b start at offsets a and b on the circle: gap min(|a-b|, 2**64-|a-b|)."""
    golden = 0x9E3779B97F4A7C15
    keys = np.array([(golden * a) % 2**64 for a in (5, 1000, 2**64 - 3)], dtype=np.uint64)
    assert min_stream_gap(keys) == 8  # 2**64 - 3 to 5 across the wrap
    streams = CounterStreams(2)
    streams.keys[:] = np.array([(golden * 5) % 2**64, (golden * 9) % 2**64], dtype=np.uint64)
    draws = streams.uniform(slice(None), 6)
    np.testing.assert_array_equal(draws[0, 4:], draws[1, :2])  # 4 draws apart: they meet after 4


@pytest.mark.parametrize("family", ["maze", "navigation", "lasertag"])
def test_env_of_seed_0_and_env_of_seed_1_diverge_under_the_same_actions(family):
    """Env 1 of seed 0 and env 0 of seed 1 (the same stream under the old seed + j keys)."""
    a = _single_env(family, 0, preset="smoke", env_index=1)
    b = _single_env(family, 0, preset="smoke", env_index=0)
    obs_a, _ = a.reset(seed=0)
    obs_b, _ = b.reset(seed=1)
    rng = np.random.default_rng(0)
    differ = not np.array_equal(obs_a, obs_b)
    ended = False
    while not ended:  # one whole episode
        action = int(rng.integers(a.action_space.n))
        obs_a, reward_a, term_a, trunc_a, _ = a.step(action)
        obs_b, reward_b, term_b, trunc_b, _ = b.step(action)
        differ = differ or not np.array_equal(obs_a, obs_b) or reward_a != reward_b
        ended = term_a or trunc_a or term_b or trunc_b
    assert differ


def test_text_rendering_shows_the_map_and_the_agent():
    env = _single_env("maze", 0, render_mode="ansi")
    env.reset(seed=0)
    text = env.render()
    size = env.engine.layouts[0].walls.shape[0]
    assert len(text.splitlines()) == size and sum(text.count(c) for c in "^>v<") == 1
    assert text.count("G") == 1 and text.count("a") == env.engine.config.tasks[0].num_apples


def test_maps_are_fixed_per_task_and_differ_between_tasks():
    a = envs.make_family("maze", 1, seed=0)
    b = envs.make_family("maze", 1, seed=99)
    np.testing.assert_array_equal(a.walls, b.walls)
    np.testing.assert_array_equal(a.templates, b.templates)
    assert len({w.tobytes() for w in a.walls}) == envs.num_tasks("maze")


def test_counter_streams_are_uniform_and_independent_of_batching():
    streams = CounterStreams(4)
    streams.seed(np.arange(4), np.array([7, 8, 9, 10]), np.arange(4))
    draws = streams.uniform(slice(None), 5000)
    assert draws.min() >= 0.0 and draws.max() < 1.0
    assert abs(draws.mean() - 0.5) < 0.01 and abs(draws.var() - 1 / 12) < 0.005
    alone = CounterStreams(1)
    alone.seed(np.arange(1), np.array([9]), np.array([2]))
    np.testing.assert_array_equal(alone.uniform(slice(None), 5000)[0], draws[2])


# ----------------------------------------------------------------------------- hand-checked cases


def _one_env(family: str, task: int = 0, **task_changes) -> GridTaskVecEnv:
    config = family_config(family, "default")
    if task_changes:
        tasks = list(config.tasks)
        tasks[task] = dataclasses.replace(tasks[task], **task_changes)
        config = dataclasses.replace(config, tasks=tuple(tasks))
    env = GridTaskVecEnv(config, [task], seed=0)
    env.reset()
    return env


def _cell_with_wall_to_the_north(env: GridTaskVecEnv) -> int:
    walls = env.walls[env.task_ids[0]]
    free = np.flatnonzero(~walls)
    return int(next(c for c in free if walls[c - env.width] and not walls[c + 1]))


def test_walls_block_and_the_view_turns_with_the_agent():
    env = _one_env("maze", slip=0.0)
    cell = _cell_with_wall_to_the_north(env)
    env.position[0], env.heading[0] = cell, 0  # facing north, a wall ahead
    obs, reward, *_ = env.step(np.array([FORWARD]))
    assert env.position[0] == cell and reward[0] == 0.0
    wall = env.config.channels.index(WALL)
    assert obs[0, wall, VIEW_SIZE - 2, VIEW_SIZE // 2] == 1  # the cell straight ahead
    obs, *_ = env.step(np.array([TURN_RIGHT]))  # facing east: the wall is now on the left
    assert env.heading[0] == 1 and env.position[0] == cell
    assert obs[0, wall, VIEW_SIZE - 1, VIEW_SIZE // 2 - 1] == 1
    obs, *_ = env.step(np.array([FORWARD]))  # east is free: the agent moves one cell
    assert env.position[0] == cell + 1


def _neighbour_facing(env: GridTaskVecEnv, target: int) -> tuple[int, int]:
    """A free cell next to `target` and the heading that faces `target` from it."""
    walls = env.walls[env.task_ids[0]]
    for heading, step in enumerate(env._dir_step):
        if not walls[target - step]:
            return target - step, heading
    raise AssertionError("no free neighbour")


def test_apples_and_the_goal_reward_and_the_goal_respawns():
    env = _one_env("maze", slip=0.0)
    scale = env.config.reward_scale
    apple = int(np.flatnonzero(env.grid[0] == APPLE)[0])
    env.position[0], env.heading[0] = _neighbour_facing(env, apple)
    _, reward, *_ = env.step(np.array([FORWARD]))
    assert reward[0] == pytest.approx(1.0 * scale) and env.grid[0, apple] != APPLE
    goal = int(env.goal_cell[0])
    env.position[0], env.heading[0] = _neighbour_facing(env, goal)
    _, reward, *_ = env.step(np.array([FORWARD]))
    assert reward[0] == pytest.approx(10.0 * scale)
    assert env.position[0] != goal and env.position[0] in env.layouts[0].spawn_cells  # teleported
    assert env.grid[0, apple] == APPLE and env.grid[0, goal] == GOAL  # apples regrew, goal stays


def test_navigation_goal_moves_between_episodes_but_not_within():
    env = GridTaskVecEnv(family_config("navigation", "smoke"), [0] * 16, seed=0)
    env.reset()
    goals = env.goal_cell.copy()
    assert len(set(goals)) > 1  # different per env/episode
    for _ in range(env.config.episode_length - 1):
        env.step(env.scripted_actions())
        np.testing.assert_array_equal(env.goal_cell, goals)
    env.step(env.scripted_actions())  # the episode ends and a new goal is drawn
    assert (env.goal_cell != goals).any()


def _straight_line(env: GridTaskVecEnv, length: int) -> tuple[int, int, int]:
    """(start cell, heading, cell `length` steps ahead) with free cells all the way."""
    walls = env.walls[env.task_ids[0]]
    for start in np.flatnonzero(~walls):
        for heading, step in enumerate(env._dir_step):
            line = start + step * np.arange(length + 1)
            if not walls[line].any():
                return int(start), heading, int(line[-1])
    raise AssertionError("no straight line")


def test_a_bot_in_line_of_sight_is_tagged_and_respawns():
    env = _one_env("lasertag", task=0, bot_fire=0.0, bot_chase=0.0)
    start, heading, ahead = _straight_line(env, 2)
    env.position[0], env.heading[0], env.bot_cell[0, 0] = start, heading, ahead
    lasertag = env.config.channels
    obs = env._observe()
    assert obs[0, lasertag.index(BOT), VIEW_SIZE - 3, VIEW_SIZE // 2] == 1  # the bot, two cells ahead
    _, reward, *_ = env.step(np.array([FIRE]))
    assert reward[0] == pytest.approx(1.0 * env.config.reward_scale)
    # Respawned to a spawn point (then it may have taken one step).
    spawns = env.layouts[0].spawn_cells
    assert env._manhattan(spawns, env.bot_cell[0, 0]).min() <= 1
    # A miss: the agent facing away scores nothing.
    env.position[0], env.heading[0], env.bot_cell[0, 0] = start, (heading + 2) % 4, ahead
    _, reward, *_ = env.step(np.array([FIRE]))
    assert reward[0] == 0.0


def test_a_bot_behind_a_wall_cannot_be_tagged_and_a_skilled_bot_tags_back():
    env = _one_env("lasertag", task=0, bot_fire=0.0, bot_chase=0.0)
    cell = _cell_with_wall_to_the_north(env)
    walls = env.walls[0]
    beyond = cell - 2 * env.width
    env.position[0], env.heading[0] = cell, 0
    env.bot_cell[0, 0] = beyond if not walls[beyond] else int(np.flatnonzero(~walls)[0])
    _, reward, *_ = env.step(np.array([FIRE]))
    assert reward[0] == 0.0  # the wall stops the laser
    hunter = _one_env("lasertag", task=0, bot_fire=1.0, bot_chase=0.0, bot_range=5)
    start, heading, ahead = _straight_line(hunter, 2)
    hunter.position[0], hunter.heading[0], hunter.bot_cell[0, 0] = start, heading, ahead
    _, reward, *_ = hunter.step(np.array([TURN_RIGHT]))  # not firing: the bot fires first
    assert reward[0] == pytest.approx(-0.5 * hunter.config.reward_scale)
    assert hunter.position[0] in hunter.layouts[0].spawn_cells


@pytest.mark.skipif(not HAVE_GRIDWORLD, reason="distral_repro/envs/gridworld.py is not written yet")
def test_gridworld_corridor_connects_the_two_rooms():
    from scipy.ndimage import label

    env = _single_env("gridworld", 0)
    walls = getattr(env, "walls", None)
    if walls is None:
        pytest.skip("GridWorldEnv exposes no `walls` map to check")
    free = ~np.asarray(walls, dtype=bool)
    _, components = label(free)
    assert components == 1, "all free cells, both rooms and the corridor, are connected"
    # Removing the corridor cells (free cells with walls on two opposite sides) splits the rooms.
    corridor = free.copy()
    corridor[1:-1, 1:-1] &= (
        (~free[:-2, 1:-1] & ~free[2:, 1:-1]) | (~free[1:-1, :-2] & ~free[1:-1, 2:])
    )
    corridor[[0, -1], :] = False
    corridor[:, [0, -1]] = False
    _, rooms = label(free & ~corridor)
    assert rooms == 2


# ----------------------------------------------------------------------------- solvable tasks


@pytest.mark.parametrize("family", GRID_FAMILIES)
def test_a_shortest_path_policy_beats_random_on_every_task(family):
    returns = {}
    for policy in ("random", "scripted"):
        env = envs.make_family(family, num_workers=8, seed=0)
        env.reset()
        rng = np.random.default_rng(0)
        total = np.zeros(env.num_envs)
        for _ in range(env.config.episode_length):
            if policy == "scripted":
                actions = env.scripted_actions()
            else:
                actions = rng.integers(0, env.single_action_space.n, env.num_envs)
            total += env.step(actions)[1]
        returns[policy] = total.reshape(env.num_tasks, -1).mean(axis=1)
    margin = 5 * family_config(family).reward_scale  # at least 5 raw reward units per episode
    assert (returns["scripted"] > returns["random"] + margin).all(), returns


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: envs.make_family("mazes", 2, 0), "valid: maze, navigation, lasertag, gridworld"),
        (lambda: envs.make_family("maze", 2, 0, preset="huge"), "valid: smoke, default, paper"),
        (lambda: envs.make_family("maze", 0, 0), "num_workers must be a positive integer"),
        (lambda: envs.make_family("maze", 2, 0, size=10), r"odd integer in 9\.\.31"),
        (lambda: envs.make_family("maze", 2, 0, size=5), r"odd integer in 9\.\.31"),
        (lambda: envs.make_family("lasertag", 2, 0, size=33), r"odd integer in 9\.\.31"),
        (lambda: envs.make_family("maze", 2, 0, num_tasks=9), r"integer in 1\.\.8"),
        (lambda: envs.make_family("navigation", 2, 0, num_tasks=0), r"integer in 1\.\.4"),
        (lambda: gymnasium.make("distral_repro/Maze-v0", task=3, num_tasks=2), r"valid: 0\.\.1"),
        (lambda: envs.make_family("maze", 2, 0, colour=3), "valid: size, episode_length, reward_scale, num_tasks"),
        (lambda: envs.make_family("maze", 2, 0, episode_length=0), "positive integer"),
        (lambda: gymnasium.make("distral_repro/Maze-v0", task=8), "valid: 0..7"),
        (lambda: gymnasium.make("distral_repro/Navigation-v0", task=-1), "valid: 0..3"),
        (lambda: gymnasium.make_vec("distral_repro/LaserTag-v0", num_envs=9, task=None), "multiple of 8"),
        (lambda: envs.num_tasks("pong"), "valid: maze"),
    ],
)
def test_bad_input_gives_one_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_actions_outside_the_space_are_refused():
    env = envs.make_family("lasertag", 1, seed=0, preset="smoke")
    env.reset()
    for bad in (np.full(env.num_envs, 7), np.full(env.num_envs, -1), np.zeros(3, dtype=int), np.full(env.num_envs, 0.5)):
        with pytest.raises(ValueError, match=r"0=forward, .*6=fire"):
            env.step(bad)
    single = _single_env("maze", 0)
    single.reset(seed=0)
    with pytest.raises(ValueError, match=r"\[0, 6\)"):
        single.step(6)


def test_a_map_too_small_for_its_objects_is_refused():
    config = family_config("maze", "smoke")
    crowded = dataclasses.replace(config.tasks[0], num_apples=200)
    with pytest.raises(ValueError, match="larger map size"):
        GridTaskVecEnv(dataclasses.replace(config, tasks=(crowded,)), [0])


def test_num_tasks_keeps_the_first_tasks():
    small = envs.make_family("maze", 2, seed=0, num_tasks=3)
    full = envs.make_family("maze", 2, seed=0)
    assert small.num_tasks == 3 and small.num_envs == 6
    np.testing.assert_array_equal(small.templates[:3], full.templates[:3])


def test_presets_grow_the_maps_and_scale_rewards():
    for family in GRID_FAMILIES:
        sizes = [PRESETS[p][family]["size"] for p in ("smoke", "default", "paper")]
        assert sizes == sorted(sizes) and sizes[0] < sizes[2]
    assert family_config("maze").reward_scale == 0.1 and family_config("maze", "paper").reward_scale == 1.0


# ----------------------------------------------------------------------------- custom families


def test_custom_family_from_minigrid_ids():
    pytest.importorskip("minigrid")
    from distral_repro.envs.custom import OneHotImage

    ids = ["MiniGrid-Empty-5x5-v0", "MiniGrid-Empty-6x6-v0"]
    family = envs.make_family(ids, num_workers=2, seed=0, wrappers=[OneHotImage])
    assert family.num_tasks == 2 and family.num_envs == 4 and list(family.task_ids) == [0, 0, 1, 1]
    obs, _ = family.reset()
    assert obs.shape == (4, 11, 7, 7) and obs.dtype == np.uint8 and (obs.sum(axis=1) == 1).all()
    again, _ = envs.make_family(ids, num_workers=2, seed=0, wrappers=[OneHotImage]).reset()
    np.testing.assert_array_equal(obs, again)
    obs, reward, terminated, truncated, _ = family.step(np.zeros(4, dtype=np.int64))
    assert obs.shape == (4, 11, 7, 7) and reward.shape == (4,)
    with pytest.raises(ValueError, match="must share spaces"):
        envs.make_family(["MiniGrid-Empty-5x5-v0", "CartPole-v1"], num_workers=1)
    with pytest.raises(ValueError, match="unknown gymnasium env id"):
        envs.make_family(["NoSuchEnv-v0"], num_workers=1)
    with pytest.raises(ValueError, match="Discrete"):
        family.step(np.full(4, 99))


# ----------------------------------------------------------------------------- benchmark


def test_bench_envs_writes_its_measurements(tmp_path, capsys):
    from distral_repro.bench.envs import main

    out = tmp_path / "bench.json"
    assert main(["--families", "maze", "--num-envs", "16", "--seconds", "0.2", "--no-minigrid", "--json", str(out)]) == 0
    result = json.loads(out.read_text())["results"][0]
    assert result["name"] == "maze" and result["envs"] == 16 and result["steps_per_second"] > 0
    assert "| maze | 8 | 16 |" in capsys.readouterr().out
    for bad in (["--families", "pong"], ["--families", "navigation", "--num-envs", "6"]):
        with pytest.raises(SystemExit):
            main(bad)
