"""ViZDoom scenarios as a user family (distral_repro.envs.vizdoom, config/families/vizdoom.yaml):
the frame shrinking and action mapping against hand-worked numbers, then (with vizdoom
installed) the example family's spaces, its actions pressing the named buttons, training a
few updates through the training command, and a restore from a pickle."""

from __future__ import annotations

import importlib.util
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from distral_repro.envs.vizdoom import DEFAULT_ACTIONS, area_resize, button_actions

REPO = Path(__file__).resolve().parents[1]
FAMILY_FILE = REPO / "config" / "families" / "vizdoom.yaml"
needs_vizdoom = pytest.mark.skipif(
    importlib.util.find_spec("vizdoom") is None,
    reason="vizdoom is not installed (pip install distral-repro[vizdoom]); the ViZDoom family cannot be built",
)


def test_area_resize_averages_blocks_and_goes_channels_first():
    frame = np.zeros((4, 4, 3), np.uint8)
    frame[:2, :2, 0] = [[10, 20], [30, 41]]  # mean 25.25 -> 25
    frame[2:, 2:, 1] = 255
    frame[:2, 2:, 2] = [[1, 2], [2, 2]]  # mean 1.75 -> 2
    out = area_resize(frame, 2)
    assert out.shape == (3, 2, 2) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0], [[25, 0], [0, 0]])
    np.testing.assert_array_equal(out[1], [[0, 0], [0, 255]])
    np.testing.assert_array_equal(out[2], [[0, 2], [0, 0]])


def test_area_resize_uneven_blocks_and_half_up_rounding():
    # 3 rows -> 2: blocks rows [0] and [1, 2]; 5 columns -> 2: columns [0, 1] and [2, 3, 4].
    frame = np.arange(15, dtype=np.uint8).reshape(3, 5, 1)
    out = area_resize(frame, 2)[0]
    # [0, 1] -> 0.5 -> 1; [2, 3, 4] -> 3; rows 1-2 x cols 0-1: 5, 6, 10, 11 -> 8; cols 2-4: 7..9, 12..14 -> 10.5 -> 11
    np.testing.assert_array_equal(out, [[1, 3], [8, 11]])
    with pytest.raises(ValueError, match="cannot shrink a 3x5 screen to 4x4"):
        area_resize(frame, 4)


def test_button_actions_finds_the_action_pressing_each_button_alone():
    names = ["TURN_LEFT", "ATTACK", "MOVE_FORWARD"]
    button_map = [np.array(p) for p in ([0, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0])]
    np.testing.assert_array_equal(button_actions(names, button_map, ["MOVE_FORWARD", "TURN_LEFT", "ATTACK"]), [1, 3, 2])
    with pytest.raises(ValueError, match="this task has no button 'MOVE_BACKWARD'.*available_buttons"):
        button_actions(names, button_map, ["MOVE_FORWARD", "MOVE_BACKWARD"])
    with pytest.raises(ValueError, match="presses 'ATTACK' alone"):
        button_actions(names, [np.array([0, 0, 0]), np.array([1, 1, 1])], ["ATTACK"])


# ----------------------------------------------------------------------------- with ViZDoom


def _doom(num_workers=1, seed=0):
    from distral_repro.envs.specs import family_specs, load_family_file, make_family_from_specs

    specs = family_specs(load_family_file(FAMILY_FILE))
    return make_family_from_specs("doom", specs, num_workers=num_workers, seed=seed)


@needs_vizdoom
def test_the_example_family_gives_every_scenario_one_action_set_and_frame():
    import gymnasium

    from distral_repro.envs.vizdoom import DoomFrames

    env = _doom(num_workers=1)
    try:
        assert env.num_tasks == 3 and env.max_episode_steps == 525
        assert env.single_observation_space == gymnasium.spaces.Box(0, 255, (3, 32, 32), np.uint8)
        assert env.single_action_space == gymnasium.spaces.Discrete(len(DEFAULT_ACTIONS))
        obs, _ = env.reset()
        assert obs.shape == (3, 3, 32, 32) and obs.dtype == np.uint8 and obs.std() > 0
        for task in env.unwrapped.envs:  # action k presses button DEFAULT_ACTIONS[k] alone, in every scenario
            doom = task.unwrapped
            names = [b.name for b in doom.game.get_available_buttons()]
            wrapper = task
            while not isinstance(wrapper, DoomFrames):
                wrapper = wrapper.env
            for k, name in enumerate(DEFAULT_ACTIONS):
                pressed = doom.button_map[wrapper._index[k]]
                assert [names[i] for i in np.flatnonzero(pressed)] == [name]
        for _ in range(5):
            obs, reward, terminated, truncated, _ = env.step(np.zeros(env.num_envs, np.int64))
        assert obs.shape == (3, 3, 32, 32) and np.all(np.abs(reward) <= 1.0)  # reward_clip: 1.0
    finally:
        env.close()


@needs_vizdoom
def test_gymnasium_check_env_passes_on_a_wrapped_scenario():
    import gymnasium
    from gymnasium.utils.env_checker import check_env

    from distral_repro.envs.vizdoom import DoomFrames

    raw = gymnasium.make("vizdoom.gymnasium_wrapper:VizdoomMyWayHome-v1", available_buttons=list(DEFAULT_ACTIONS),
                         screen_resolution="RES_160X120", frame_skip=4)
    env = DoomFrames(raw, size=16)
    try:
        check_env(env, skip_render_check=True)
    finally:
        env.close()
    with pytest.raises(ValueError, match="this task has no button 'MOVE_BACKWARD'"):
        DoomFrames(gymnasium.make("vizdoom.gymnasium_wrapper:VizdoomMyWayHome-v1"))


@needs_vizdoom
def test_a_restored_family_cuts_the_episodes_in_flight_then_runs_deterministically():
    env = _doom(num_workers=1, seed=3)
    try:
        env.reset()
        actions = np.array([0, 4, 6])
        for _ in range(3):
            env.step(actions)
        blob = pickle.dumps(env)
    finally:
        env.close()
    runs = []
    for _ in range(2):
        restored = pickle.loads(blob)
        try:
            obs, reward, terminated, truncated, info = restored.step(actions)
            assert truncated.all() and not terminated.any() and not reward.any() and info["final_info"]["vizdoom_restored"].all()
            frames = [obs]
            for _ in range(6):
                frames.append(restored.step(actions)[0])
            runs.append(np.stack(frames))
        finally:
            restored.close()
    assert runs[0][1:].std() > 0
    np.testing.assert_array_equal(runs[0], runs[1])


@needs_vizdoom
def test_the_training_command_trains_a_few_updates_on_doom(tmp_path):
    import yaml

    from distral_repro import train

    # The example family with 20-step episodes, so that a few updates see whole episodes.
    definition = yaml.safe_load(FAMILY_FILE.read_text())
    definition["families"]["doom"]["episode_cap"] = 20
    family_file = tmp_path / "doom.yaml"
    family_file.write_text(yaml.safe_dump(definition))
    out = tmp_path / "run"
    args = ["--algo", "KL+ent_2col", "--env", "doom", "--env-file", str(family_file), "--beta", "100", "--lr", "1e-3",
            "--seed", "0", "--out", str(out), "--steps-per-task", "60", "--workers", "2", "--unroll", "10",
            "--threads", "1", "--quiet"]
    assert train.main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["env"] == "doom" and summary["total_env_steps"] == 3 * summary["steps_per_task"] >= 3 * 60
    assert np.isfinite(summary["mean_final_return"])
    progress = (out / "progress.csv").read_text().splitlines()
    assert len(progress) > 1
