"""Task families built from the user's own gymnasium env ids (e.g. several MiniGrid envs).

    from distral_repro.envs.custom import OneHotImage, make_custom_family
    family = make_custom_family(
        ["MiniGrid-Empty-5x5-v0", "MiniGrid-FourRooms-v0"], num_workers=8, seed=0,
        wrappers=[OneHotImage],          # MiniGrid's dict obs -> (11, 7, 7) one-hot image
    )

The result is an ordinary gymnasium vector env (SyncVectorEnv or AsyncVectorEnv with
SAME_STEP autoreset) wrapped to carry the family attributes the learner reads
(`task_ids`, `num_tasks`, `workers_per_task`), like the built-in families.
"""

from __future__ import annotations

from typing import Callable, Sequence

import gymnasium
import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv, VectorWrapper

VECTORIZATION_MODES = ("sync", "async")


class OneHotImage(gymnasium.ObservationWrapper):
    """A dict observation's image (H, W, K) -> one-hot of one of its channels, (C, H, W) uint8.

    For MiniGrid: `image[..., 0]` is the object type (0..10), so the result is (11, 7, 7),
    the same kind of egocentric one-hot view as the built-in families.
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


class TaskFamilyVecEnv(VectorWrapper):
    """A vector env of num_tasks x workers_per_task envs, task-major, with family attributes.

    The first reset() without a seed uses the seed given at construction
    (environment j gets seed + j, gymnasium's convention).
    """

    def __init__(self, env, env_ids: Sequence[str], workers_per_task: int, seed: int | None):
        super().__init__(env)
        self.env_ids = tuple(env_ids)
        self.family = "custom"
        self.num_tasks = len(env_ids)
        self.workers_per_task = workers_per_task
        self.task_ids = np.repeat(np.arange(self.num_tasks, dtype=np.int64), workers_per_task)
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
        return self.env.step(actions)


def _check_env_id(env_id: str) -> None:
    try:
        gymnasium.spec(env_id)
    except gymnasium.error.Error as error:
        raise ValueError(
            f"unknown gymnasium env id {env_id!r} ({error}); valid: the ids in gymnasium.registry "
            "(list them with gymnasium.pprint_registry(); import the package that registers "
            "yours first, e.g. `import minigrid`)"
        ) from None


def make_custom_family(
    env_ids: Sequence[str],
    num_workers: int,
    seed: int | None = 0,
    wrappers: Sequence[Callable[[gymnasium.Env], gymnasium.Env]] = (),
    env_kwargs: dict | None = None,
    vectorization_mode: str = "sync",
) -> TaskFamilyVecEnv:
    """A family over the given env ids (one task each) x `num_workers` workers.

    Args:
        env_ids: registered gymnasium ids, one per task; all must have the same spaces
            (after `wrappers`).
        num_workers: parallel environments per task.
        seed: environment j is seeded with seed + j at the first reset().
        wrappers: applied in order to every environment (e.g. OneHotImage).
        env_kwargs: passed to every `gymnasium.make`.
        vectorization_mode: "sync" (one process) or "async" (one subprocess per env).
    """
    env_ids = list(env_ids)
    if not env_ids or not all(isinstance(i, str) for i in env_ids):
        raise ValueError("a custom family needs a non-empty list of gymnasium env id strings")
    if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) or num_workers < 1:
        raise ValueError(f"num_workers must be a positive integer, got {num_workers!r}")
    if vectorization_mode not in VECTORIZATION_MODES:
        raise ValueError(f"unknown vectorization_mode {vectorization_mode!r}; valid: {', '.join(VECTORIZATION_MODES)}")
    for env_id in env_ids:
        _check_env_id(env_id)
    env_kwargs = dict(env_kwargs or {})

    def factory(env_id: str) -> Callable[[], gymnasium.Env]:
        def make() -> gymnasium.Env:
            env = gymnasium.make(env_id, **env_kwargs)
            for wrapper in wrappers:
                env = wrapper(env)
            return env

        return make

    # Shared spaces are what makes a family: check them once per task before batching.
    probes = [factory(env_id)() for env_id in env_ids]
    reference = probes[0]
    for env_id, probe in zip(env_ids, probes):
        for what in ("observation_space", "action_space"):
            if getattr(probe, what) != getattr(reference, what):
                raise ValueError(
                    f"tasks of a family must share spaces: {env_id} has {what} {getattr(probe, what)}, "
                    f"{env_ids[0]} has {getattr(reference, what)}"
                )
    for probe in probes:
        probe.close()

    env_fns = [factory(env_id) for env_id in env_ids for _ in range(num_workers)]
    vector_cls = SyncVectorEnv if vectorization_mode == "sync" else AsyncVectorEnv
    vector_env = vector_cls(env_fns, autoreset_mode=AutoresetMode.SAME_STEP)
    return TaskFamilyVecEnv(vector_env, env_ids, num_workers, seed)
