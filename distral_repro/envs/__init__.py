"""Task families (stand-ins for DeepMind Lab), registered with gymnasium.

    import gymnasium, distral_repro.envs
    env = gymnasium.make("distral_repro/Maze-v0", task=3)                 # one task
    vec = gymnasium.make_vec("distral_repro/Maze-v0", num_envs=256,       # native batched
                             vectorization_mode="vector_entry_point", task=3)
    family = distral_repro.envs.make_family("maze", num_workers=16, seed=0)  # all 8 tasks x 16

`make_family` is the learner's entry point (docs/contracts.md, "Batched environment
interface"). A family can also be built from the user's own gymnasium env ids:
`make_family(["MiniGrid-Empty-5x5-v0", "MiniGrid-FourRooms-v0"], num_workers=4, seed=0)`, or
defined by data (a name, ids, wrappers by name, a budget) and looked up with the built-in
ones through `specs.family_specs` / `make_family(name, ..., families=definitions)`.

Modules:
    families.py   the maze, navigation and laser-tag tasks, presets and gymnasium env classes
    gridworld.py  the two-room grid world of the tabular experiment
    engine.py     GridTaskVecEnv, the batched engine of every grid family, and GridTaskEnv
    tasks.py      TaskParams (one task) and FamilyConfig (a resolved family)
    mazes.py      labmaze maps and the spawn / object candidates of each task
    geometry.py   per-map tables: view and move offsets, shortest paths, line of sight
    streams.py    the counter-based random stream of each environment
    grid.py       cell types, the egocentric window, actions and headings
    custom.py     families built from the user's own gymnasium env ids (MiniGridOneHot, ...)
    specs.py      every family behind one lookup: built-in and user families defined by data
"""

from __future__ import annotations

from typing import Mapping, Sequence

import gymnasium
from gymnasium.vector import VectorEnv

from distral_repro.envs.families import NUM_TASKS as _GRID_NUM_TASKS
from distral_repro.envs.families import PRESET_NAMES, make_grid_family

FAMILIES = ("maze", "navigation", "lasertag", "gridworld")
# Number of tasks of each family, for validation by CLIs and configs.
NUM_TASKS = {**_GRID_NUM_TASKS, "gridworld": 4}

ENV_IDS = {
    "maze": "distral_repro/Maze-v0",
    "navigation": "distral_repro/Navigation-v0",
    "lasertag": "distral_repro/LaserTag-v0",
    "gridworld": "distral_repro/GridWorld-v0",
}


def num_tasks(family: str) -> int:
    """How many tasks the family has (ValueError naming the families if unknown)."""
    if family not in NUM_TASKS:
        raise ValueError(f"unknown family {family!r}; valid: {', '.join(FAMILIES)}")
    return NUM_TASKS[family]


def make_family(
    name: str | Sequence[str],
    num_workers: int,
    seed: int | None = 0,
    preset: str | None = None,
    families: Mapping | None = None,
    **overrides,
) -> VectorEnv:
    """All tasks of a family x `num_workers` workers, as one batched VectorEnv.

    Args:
        name: a family in FAMILIES, a family defined in `families`, or a list of gymnasium
            env ids with identical spaces (`overrides` are then passed to `make_custom_family`).
        num_workers: parallel environments per task.
        seed: environment j is seeded with seed + j at the first reset().
        preset: one of PRESET_NAMES (map sizes, episode length, reward scale of the built-in
            families; default "default"). A family of gymnasium ids has no preset settings:
            a preset given with a list of ids is refused.
        families: user family definitions (specs.family_specs input, or resolved specs).
        overrides: per-setting overrides of the preset (see families.SETTINGS).
    Returns:
        a VectorEnv with num_envs = num_tasks * num_workers, task-major `task_ids`.
    """
    if not isinstance(name, str):
        from distral_repro.envs.custom import make_custom_family

        if preset is not None:
            raise ValueError(
                f"preset={preset!r} sets the built-in families' maps and episodes; a family of gymnasium ids "
                "has none (give episode_cap, wrappers, env_kwargs instead)"
            )
        return make_custom_family(list(name), num_workers, seed=seed, **overrides)
    preset = "default" if preset is None else preset
    if preset not in PRESET_NAMES:
        raise ValueError(f"unknown preset {preset!r}; valid: {', '.join(PRESET_NAMES)}")
    if name not in FAMILIES:
        from distral_repro.envs.specs import FamilySpec, family_specs, get_family

        specs = families if families and all(isinstance(v, FamilySpec) for v in families.values()) else family_specs(families)
        if name not in specs:
            raise ValueError(
                f"unknown family {name!r}; valid: {', '.join(specs)} (or define one under 'families:') "
                "or a list of gymnasium env ids"
            )
        return get_family(name, specs).make(num_workers, seed=seed, preset=preset, **overrides)
    if name == "gridworld":
        from distral_repro.envs.gridworld import make_gridworld_family

        return make_gridworld_family(num_workers, seed, preset=preset, **overrides)
    return make_grid_family(name, num_workers, seed=seed, preset=preset, **overrides)


def _register() -> None:
    entry = {
        "maze": ("MazeEnv", "MazeVecEnv"),
        "navigation": ("NavigationEnv", "NavigationVecEnv"),
        "lasertag": ("LaserTagEnv", "LaserTagVecEnv"),
        "gridworld": ("GridWorldEnv", "GridWorldVecEnv"),
    }
    for family, (single, vector) in entry.items():
        module = "distral_repro.envs.gridworld" if family == "gridworld" else "distral_repro.envs.families"
        if ENV_IDS[family] not in gymnasium.registry:
            gymnasium.register(
                id=ENV_IDS[family],
                entry_point=f"{module}:{single}",
                vector_entry_point=f"{module}:{vector}",
            )


_register()

__all__ = ["FAMILIES", "NUM_TASKS", "ENV_IDS", "PRESET_NAMES", "make_family", "num_tasks"]
