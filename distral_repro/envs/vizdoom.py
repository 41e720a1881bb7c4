"""ViZDoom scenarios as the tasks of a user family: one action set and one frame size for all.

ViZDoom (`pip install distral-repro[vizdoom]`) registers gymnasium ids such as
`VizdoomMyWayHome-v1` whose observation is a dict with an HxWx3 'screen' and whose action
space is `Discrete(n)` over the scenario's own buttons (index 0 presses none). Scenarios
differ in both, so `DoomFrames` maps a fixed list of button names (by default DM Lab's
discrete set as the built-in families have it: forward, backward, strafe left, strafe
right, turn left, turn right, fire) onto each task's `Discrete` index and area-averages the
screen to a channels-first `uint8 (3, size, size)` frame, the input of the pixel torso.
Every task must offer every button: give them all the same `available_buttons` in the
family's `env_kwargs` (ViZDoom applies those keys to the game before it starts), with the
frame skip (`frame_skip`) and a small `screen_resolution`. config/families/vizdoom.yaml
is an example.

vizdoom itself is never imported here (the wrapper reads the env it is given), so this
module loads without it. A ViZDoom env pickles by its constructor arguments, not its game
state: a family restored from a checkpoint holds games that have not started. Their first
step after the restore ends the episode in flight (`truncated`, reward 0, `info` key
`vizdoom_restored`), the vector env resets them, and since the wrapper carries each env's
random generator through the pickle, the resumed run is deterministic, though not the
same as a run that was never stopped.
"""

from __future__ import annotations

from typing import Sequence

import gymnasium
import numpy as np

#: DM Lab's discrete actions in the built-in families' order (0 forward ... 6 fire).
DEFAULT_ACTIONS = ("MOVE_FORWARD", "MOVE_BACKWARD", "MOVE_LEFT", "MOVE_RIGHT", "TURN_LEFT", "TURN_RIGHT", "ATTACK")


def area_resize(frame: np.ndarray, size: int) -> np.ndarray:
    """An (H, W, C) uint8 image -> (C, size, size) uint8, each pixel the mean of its block.

    Block edges are `floor(i * H / size)` (and the same for W), so for H, W >= size every
    output pixel averages a non-empty block and every input pixel counts once; the mean is
    rounded half up.
    """
    height, width, _ = frame.shape
    if size > height or size > width:
        raise ValueError(f"cannot shrink a {height}x{width} screen to {size}x{size}")
    rows = (np.arange(size) * height) // size
    cols = (np.arange(size) * width) // size
    sums = np.add.reduceat(np.add.reduceat(frame.astype(np.uint32), rows, axis=0), cols, axis=1)
    counts = np.diff(np.append(rows, height))[:, None] * np.diff(np.append(cols, width))[None, :]
    means = (2 * sums + counts[..., None]) // (2 * counts[..., None])
    return np.ascontiguousarray(means.astype(np.uint8).transpose(2, 0, 1))


def button_actions(button_names: Sequence[str], button_map: Sequence[np.ndarray], actions: Sequence[str]) -> np.ndarray:
    """For each action (a button name) the index of the env's `Discrete` action pressing only it.

    `button_names` are the env's buttons in order, `button_map[i]` the buttons action i presses
    (ViZDoom's `VizdoomEnv.button_map`). ValueError (one line) for a button the env lacks.
    """
    index = []
    for name in actions:
        if name not in button_names:
            raise ValueError(
                f"this task has no button {name!r} (it has {', '.join(button_names)}); give every task the same "
                f"buttons with the family's env_kwargs, e.g. available_buttons: [{', '.join(actions)}]"
            )
        press = np.zeros(len(button_names), dtype=np.int64)
        press[list(button_names).index(name)] = 1
        matches = [i for i, pressed in enumerate(button_map) if np.array_equal(np.asarray(pressed), press)]
        if not matches:
            raise ValueError(f"no action of this task presses {name!r} alone; make it with max_buttons_pressed >= 1 (the -v1 ids)")
        index.append(matches[0])
    return np.asarray(index, dtype=np.int64)


class DoomFrames(gymnasium.Wrapper, gymnasium.utils.RecordConstructorArgs):
    """A ViZDoom task with a fixed action set and frame: `Discrete(len(actions))`, `uint8 (3, size, size)`.

    Args:
        env: a ViZDoom gymnasium env (`Discrete` actions: the `-v1` ids, max_buttons_pressed 1)
            with an RGB screen.
        size: side of the square frame (the screen is area-averaged to it; no larger than the
            screen's height).
        actions: button names, one per action (default DEFAULT_ACTIONS).
        reward_clip: if given, every reward is clipped to [-reward_clip, reward_clip] (as Mnih
            et al. 2016 did on Atari), which puts scenarios with different reward scales on one.
    """

    def __init__(self, env: gymnasium.Env, size: int = 32, actions: Sequence[str] = DEFAULT_ACTIONS,
                 reward_clip: float | None = None):
        gymnasium.utils.RecordConstructorArgs.__init__(self, size=size, actions=tuple(actions), reward_clip=reward_clip)
        gymnasium.Wrapper.__init__(self, env)
        game = getattr(env.unwrapped, "game", None)
        button_map = getattr(env.unwrapped, "button_map", None)
        if game is None or button_map is None or not isinstance(env.action_space, gymnasium.spaces.Discrete):
            raise ValueError("DoomFrames needs a ViZDoom env with Discrete actions (an id ending in -v1, e.g. VizdoomMyWayHome-v1)")
        space = env.observation_space
        if not isinstance(space, gymnasium.spaces.Dict) or "screen" not in space.spaces or space["screen"].shape[-1] != 3:
            raise ValueError(f"DoomFrames needs ViZDoom's dict observation with an RGB 'screen', got {space}")
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= space["screen"].shape[0]:
            raise ValueError(f"size must be an integer in 1..{space['screen'].shape[0]} (the screen's height), got {size!r}")
        if reward_clip is not None and not (isinstance(reward_clip, (int, float)) and reward_clip > 0):
            raise ValueError(f"reward_clip must be a positive number or null, got {reward_clip!r}")
        names = [button.name for button in game.get_available_buttons()]
        self._index = button_actions(names, button_map, tuple(actions))
        self.size = size
        self.reward_clip = None if reward_clip is None else float(reward_clip)
        self.action_space = gymnasium.spaces.Discrete(len(self._index))
        self.observation_space = gymnasium.spaces.Box(0, 255, (3, size, size), np.uint8)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return area_resize(obs["screen"], self.size), info

    def step(self, action):
        if not self.env.unwrapped.game.is_running():  # restored from a pickle: the game never started
            return np.zeros(self.observation_space.shape, np.uint8), 0.0, False, True, {"vizdoom_restored": True}
        obs, reward, terminated, truncated, info = self.env.step(int(self._index[int(action)]))
        if self.reward_clip is not None:
            reward = float(np.clip(reward, -self.reward_clip, self.reward_clip))
        return area_resize(obs["screen"], self.size), reward, terminated, truncated, info

    def __getstate__(self):
        state = dict(self.__dict__)
        rng = self.env.unwrapped._np_random
        state["_rng_state"] = None if rng is None else rng.bit_generator.state
        return state

    def __setstate__(self, state):
        rng_state = state.pop("_rng_state")
        self.__dict__.update(state)
        if rng_state is not None:
            bit_generator = getattr(np.random, rng_state["bit_generator"])()
            bit_generator.state = rng_state
            self.env.unwrapped._np_random = np.random.Generator(bit_generator)
