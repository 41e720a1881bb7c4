"""Task families built from the user's own gymnasium env ids (e.g. several MiniGrid envs).

    from distral_repro.envs.custom import MiniGridOneHot, make_custom_family
    family = make_custom_family(
        ["MiniGrid-Empty-5x5-v0", "MiniGrid-DoorKey-5x5-v0"], num_workers=8, seed=0,
        wrappers=[MiniGridOneHot],   # MiniGrid's dict obs -> (20, 7, 7) one-hot: object, colour, state
        episode_cap=100,             # gymnasium's TimeLimit; also the episode length the learner plans with
    )

The result is gymnasium's own SyncVectorEnv (SAME_STEP autoreset) under gymnasium's
vector `RecordEpisodeStatistics`, wrapped to carry the family attributes the learner
reads (`task_ids`, `num_tasks`, `workers_per_task`, `max_episode_steps`) and the episode
statistics of the built-in families (`info["episode_return"]`, `info["_episode_return"]`).
Every piece is a module-level object, so the whole batched env pickles (the learner's
checkpoint holds it, with every env's RNG state; a resumed run continues bit for bit).
Families defined by data (a name, ids, wrappers by name, a budget) live in `specs.py`.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import gymnasium
import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv, VectorWrapper
from gymnasium.wrappers.vector import RecordEpisodeStatistics

VECTORIZATION_MODES = ("sync", "async")


class OneHotImage(gymnasium.ObservationWrapper):
    """A dict observation's image (H, W, K) -> one-hot of one of its channels, (C, H, W) uint8.

    For MiniGrid, `image[..., 0]` is the object type (0..10): (11, 7, 7). This drops the
    colour and the door state (a locked door looks like an open one); `MiniGridOneHot`
    keeps all three.
    """

    def __init__(self, env: gymnasium.Env, key: str = "image", channel: int = 0, num_values: int = 11):
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, gymnasium.spaces.Dict) or key not in space.spaces:
            raise ValueError(f"OneHotImage needs a Dict observation space with key {key!r}, got {space}")
        height, width = space[key].shape[:2]
        self.key, self.channel, self.num_values = key, channel, num_values
        self.observation_space = gymnasium.spaces.Box(0, 1, (num_values, height, width), np.uint8)
        self._values = np.arange(num_values)[:, None, None]

    def observation(self, observation):
        layer = np.asarray(observation[self.key])[..., self.channel]  # (H, W)
        return (layer[None] == self._values).astype(np.uint8)


class MiniGridOneHot(gymnasium.ObservationWrapper):
    """MiniGrid's egocentric view as a full one-hot image: (11 + 6 + 3, H, W) uint8.

    Channels 0-10 the object type, 11-16 the colour, 17-19 the state (open, closed,
    locked doors), as minigrid's own `OneHotPartialObsWrapper` encodes them (the tests
    check equality with it), but channels-first for the convolution, without the mission
    and direction, and as array operations instead of its Python loop over cells.
    """

    def __init__(self, env: gymnasium.Env):
        super().__init__(env)
        from minigrid.core.constants import COLOR_TO_IDX, OBJECT_TO_IDX, STATE_TO_IDX

        space = env.observation_space
        if not isinstance(space, gymnasium.spaces.Dict) or "image" not in space.spaces:
            raise ValueError(f"MiniGridOneHot needs MiniGrid's Dict observation with an 'image', got {space}")
        height, width, _ = space["image"].shape
        sizes = (len(OBJECT_TO_IDX), len(COLOR_TO_IDX), len(STATE_TO_IDX))
        self._offsets = np.cumsum((0,) + sizes[:-1]).astype(np.int64)  # first channel of each part
        self._channels = sum(sizes)
        self.observation_space = gymnasium.spaces.Box(0, 1, (self._channels, height, width), np.uint8)

    def observation(self, observation):
        image = np.asarray(observation["image"], dtype=np.int64)  # (H, W, 3)
        height, width, _ = image.shape
        out = np.zeros((self._channels, height * width), dtype=np.uint8)
        channel = (image + self._offsets).reshape(-1, 3)  # (H*W, 3)
        out[channel, np.arange(height * width)[:, None]] = 1
        return out.reshape(self._channels, height, width)


@dataclass(frozen=True)
class EnvMaker:
    """Builds one task's env: `gymnasium.make(env_id, **kwargs)`, then the wrappers in order.

    A module-level callable (not a closure) so that vector envs holding it pickle.
    `wrappers` are callables `env -> env` (classes or `functools.partial`s of them).
    """

    env_id: str
    kwargs: dict = field(default_factory=dict)
    wrappers: tuple[Callable[[gymnasium.Env], gymnasium.Env], ...] = ()
    max_episode_steps: int | None = None

    def __call__(self) -> gymnasium.Env:
        extra = {} if self.max_episode_steps is None else {"max_episode_steps": self.max_episode_steps}
        env = gymnasium.make(self.env_id, **extra, **self.kwargs)
        for wrapper in self.wrappers:
            env = wrapper(env)
        return env


class TaskFamilyVecEnv(VectorWrapper):
    """A vector env of num_tasks x workers_per_task envs, task-major, with family attributes.

    The first reset() without a seed uses the seed given at construction (environment j
    gets seed + j, gymnasium's convention). Episode statistics come from gymnasium's
    vector RecordEpisodeStatistics (`info["episode"]`) and are also given under the keys
    of the built-in families: `episode_return`, `episode_length` and their `_` masks.
    """

    def __init__(
        self, env, env_ids: Sequence[str], workers_per_task: int, seed: int | None,
        max_episode_steps: int | None = None, family: str = "custom",
    ):
        super().__init__(env)
        self.env_ids = tuple(env_ids)
        self.family = family
        self.num_tasks = len(env_ids)
        self.workers_per_task = workers_per_task
        self.task_ids = np.repeat(np.arange(self.num_tasks, dtype=np.int64), workers_per_task)
        self.max_episode_steps = max_episode_steps
        self._default_seed = seed
        self._seeded = False

    def reset(self, *, seed=None, options=None):
        if seed is None and not self._seeded:
            seed = self._default_seed
        self._seeded = self._seeded or seed is not None
        return self.env.reset(seed=seed, options=options)

    def step(self, actions):
        actions = np.asarray(actions)
        if actions.shape[:1] != (self.num_envs,) or actions not in self.action_space:
            raise ValueError(
                f"actions must be a batch of {self.num_envs} elements of {self.single_action_space}, "
                f"got {actions.dtype} array of shape {actions.shape}"
                + (f" with values {actions.min()}..{actions.max()}" if actions.size and actions.dtype.kind in "iuf" else "")
            )
        obs, reward, terminated, truncated, info = self.env.step(actions)
        if "_episode" in info:
            ended = np.asarray(info["_episode"])
            info["episode_return"] = np.asarray(info["episode"]["r"], dtype=np.float32)
            info["episode_length"] = np.asarray(info["episode"]["l"], dtype=np.int64)
            info["_episode_return"] = info["_episode_length"] = ended
        return obs, reward, terminated, truncated, info


def _first_line(error: BaseException) -> str:
    """`TypeName: first line of the message` (the message alone can be empty, e.g. a bare assert)."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def import_user_module(module: str, what: str):
    """Import a module a family names; ValueError (one line) if it is missing or raises anything on import."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ValueError(f"{what}: cannot import module {module!r} ({_first_line(error)})") from None
    except SyntaxError as error:
        raise ValueError(
            f"{what}: module {module!r} has a syntax error ({error.msg}, {error.filename} line {error.lineno})"
        ) from None
    except Exception as error:  # noqa: BLE001 - user code: any exception on import is bad input
        raise ValueError(f"{what}: module {module!r} raised on import ({_first_line(error)})") from None


#: Observations and actions the networks train on (networks.Columns): an image (C, V, V) with
#: V >= the convolution's kernel, and one discrete action from 0..n-1.
MIN_VIEW = 3  # networks.KERNEL (tests/test_bad_inputs.py checks they agree)


def check_trainable_spaces(observation_space, action_space, where: str) -> None:
    """ValueError (one line) unless the networks can train on these spaces."""
    from gymnasium.spaces import Box, Discrete

    shape = getattr(observation_space, "shape", None)
    if not isinstance(observation_space, Box) or shape is None or len(shape) != 3 or shape[1] != shape[2] or shape[1] < MIN_VIEW:
        raise ValueError(
            f"{where}: the networks need image observations, a Box of shape (channels, V, V) with V >= {MIN_VIEW}, "
            f"got {observation_space} (for MiniGrid add the wrapper minigrid_onehot)"
        )
    if not isinstance(action_space, Discrete) or int(action_space.start) != 0:
        raise ValueError(f"{where}: the networks need a Discrete action space starting at 0, got {action_space}")


def check_env_id(env_id: str) -> None:
    """ValueError (one line) unless `env_id` is registered, or `module:Id` whose module registers it."""
    module, _, name = env_id.rpartition(":")
    if module:
        import_user_module(module, f"env id {env_id!r}")
    try:
        gymnasium.spec(name)
    except (gymnasium.error.Error, ImportError) as error:
        raise ValueError(
            f"unknown gymnasium env id {env_id!r} ({_first_line(error)}); valid: the ids in "
            "gymnasium.registry (list them with gymnasium.pprint_registry()); write 'module:Id' to import "
            "the package that registers yours, e.g. 'minigrid:MiniGrid-Empty-5x5-v0'"
        ) from None


def make_custom_family(
    env_ids: Sequence[str],
    num_workers: int,
    seed: int | None = 0,
    wrappers: Sequence[Callable[[gymnasium.Env], gymnasium.Env]] = (),
    env_kwargs: dict | None = None,
    vectorization_mode: str = "sync",
    episode_cap: int | None = None,
    family: str = "custom",
) -> TaskFamilyVecEnv:
    """A family over the given env ids (one task each) x `num_workers` workers.

    Args:
        env_ids: gymnasium ids, one per task ('module:Id' imports the module first); all
            must have the same spaces (after `wrappers`).
        num_workers: parallel environments per task.
        seed: environment j is seeded with seed + j at the first reset().
        wrappers: applied in order to every environment (e.g. MiniGridOneHot).
        env_kwargs: passed to every `gymnasium.make`.
        vectorization_mode: "sync" (one process; picklable, so training can resume) or
            "async" (one subprocess per env; cannot be checkpointed).
        episode_cap: at most this many steps per episode (gymnasium's TimeLimit); default
            the registered `max_episode_steps` of the ids (if they agree).
        family: the family's name (the `family` attribute).
    """
    env_ids = list(env_ids)
    if not env_ids or not all(isinstance(i, str) for i in env_ids):
        raise ValueError("a custom family needs a non-empty list of gymnasium env id strings")
    if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) or num_workers < 1:
        raise ValueError(f"num_workers must be a positive integer, got {num_workers!r}")
    if vectorization_mode not in VECTORIZATION_MODES:
        raise ValueError(f"unknown vectorization_mode {vectorization_mode!r}; valid: {', '.join(VECTORIZATION_MODES)}")
    if episode_cap is not None and (isinstance(episode_cap, bool) or not isinstance(episode_cap, (int, np.integer)) or episode_cap < 1):
        raise ValueError(f"episode_cap must be a positive integer, got {episode_cap!r}")
    for env_id in env_ids:
        check_env_id(env_id)
    env_kwargs = dict(env_kwargs or {})
    makers = [EnvMaker(env_id, env_kwargs, tuple(wrappers), episode_cap) for env_id in env_ids]

    # Shared spaces are what makes a family: check them once per task before batching.
    probes = []
    for maker in makers:
        try:
            probes.append(maker())
        except Exception as error:  # noqa: BLE001 - user envs and wrappers fail in any way (e.g. an assert)
            raise ValueError(f"cannot build {maker.env_id} with its wrappers ({_first_line(error)})") from None
    reference = probes[0]
    for env_id, probe in zip(env_ids, probes):
        for what in ("observation_space", "action_space"):
            if getattr(probe, what) != getattr(reference, what):
                raise ValueError(
                    f"tasks of a family must share spaces: {env_id} has {what} {getattr(probe, what)}, "
                    f"{env_ids[0]} has {getattr(reference, what)}"
                )
    caps = {probe.spec.max_episode_steps if probe.spec else None for probe in probes}
    for probe in probes:
        probe.close()
    if episode_cap is None and len(caps) == 1:
        episode_cap = caps.pop()

    env_fns = [maker for maker in makers for _ in range(num_workers)]
    vector_cls = SyncVectorEnv if vectorization_mode == "sync" else AsyncVectorEnv
    vector_env = RecordEpisodeStatistics(vector_cls(env_fns, autoreset_mode=AutoresetMode.SAME_STEP))
    return TaskFamilyVecEnv(vector_env, env_ids, num_workers, seed, max_episode_steps=episode_cap, family=family)


def wrapper_call(wrapper: Callable, args: dict[str, Any]) -> Callable[[gymnasium.Env], gymnasium.Env]:
    """`wrapper` with keyword arguments bound (picklable when `wrapper` is module-level)."""
    return functools.partial(wrapper, **args) if args else wrapper
