"""The maze, navigation and laser-tag task families: their tasks, presets and env classes.

Each family is a table of `TaskParams` (one row per task, fixed by the task index) and
a preset (map size, episode length, reward scale). Tasks of a family share the
observation and action spaces and differ in map, objects, rewards and dynamics.

    maze        8 labmaze mazes (9x9-11x11 by default) with apples (+1) at fixed places and a
                fixed goal (+10); reaching the goal teleports the agent to a random spawn point
                and regrows the apples (DM Lab's nav_maze levels). Some tasks are slippery.
    navigation  4 harder tasks on larger maps (15x15): a goal placed anew each episode and found
                repeatedly, apples scattered anew each episode, rooms, slip (DM Lab's
                explore_goal_locations / explore_object_locations).
    lasertag    8 arenas and mazes with 1-3 scripted bots of different skill: tagging a bot
                (+1) respawns it, being tagged (-0.5) respawns the agent.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from distral_repro.envs.engine import GridTaskEnv, GridTaskVecEnv
from distral_repro.envs.grid import APPLE, BOT, EMPTY, GOAL, WALL
from distral_repro.envs.mazes import MazeSpec
from distral_repro.envs.raycast import DEFAULT_IMAGE_SIZE, check_view
from distral_repro.envs.tasks import FamilyConfig, TaskParams

PRESET_NAMES = ("smoke", "default", "paper")

# Per family and preset: `size` is the side of the largest map (odd, walls included);
# `episode_length` in agent steps; `reward_scale` multiplies every raw reward.
# Paper: DM Lab episodes of 60 s at 60 frames/s with action repeat 4 are 900 steps
# (navigation levels run longer); rewards unscaled, as the paper's beta grid assumes.
PRESETS: dict[str, dict[str, dict]] = {
    "smoke": {
        "maze": dict(size=9, episode_length=50, reward_scale=0.1),
        "navigation": dict(size=11, episode_length=60, reward_scale=0.1),
        "lasertag": dict(size=9, episode_length=50, reward_scale=0.1),
    },
    "default": {
        "maze": dict(size=11, episode_length=150, reward_scale=0.1),
        "navigation": dict(size=11, episode_length=300, reward_scale=0.1),
        "lasertag": dict(size=11, episode_length=200, reward_scale=0.1),
    },
    "paper": {
        "maze": dict(size=15, episode_length=900, reward_scale=1.0),
        "navigation": dict(size=21, episode_length=1800, reward_scale=1.0),
        "lasertag": dict(size=15, episode_length=900, reward_scale=1.0),
    },
}
SETTINGS = ("size", "episode_length", "reward_scale", "num_tasks", "view", "image_size")
# What the agent observes (every preset): the one-hot window, or first-person RGB frames of
# `image_size` pixels (envs/raycast.py; docs/first_person.md). Same maps, dynamics and rewards.
VIEW_DEFAULTS = dict(view="window", image_size=DEFAULT_IMAGE_SIZE)
MAX_SIZE = 31  # bounds the all-pairs tables (laser tag) to tens of MiB


def maze_tasks(size: int) -> tuple[TaskParams, ...]:
    """8 maze tasks: (size-2 or size) labmaze mazes, fixed apples and goal."""
    rows = [
        # name, shrink, rooms, extra connections, apples, slip
        ("maze0", 2, 0, 0.0, 4, 0.0),
        ("maze1", 0, 0, 0.0, 4, 0.0),
        ("maze2", 2, 1, 0.0, 3, 0.05),
        ("maze3", 0, 1, 0.0, 5, 0.0),
        ("maze4", 0, 0, 0.0, 6, 0.1),
        ("maze5", 2, 0, 0.3, 2, 0.0),
        ("maze6", 0, 2, 0.2, 4, 0.05),
        ("maze7", 0, 0, 0.3, 3, 0.0),
    ]
    return tuple(
        TaskParams(
            name=name,
            maze=MazeSpec(size=size - shrink, seed=100 + i, max_rooms=rooms, extra_connection_probability=extra),
            num_apples=apples,
            goal=True,
            slip=slip,
        )
        for i, (name, shrink, rooms, extra, apples, slip) in enumerate(rows)
    )


def navigation_tasks(size: int) -> tuple[TaskParams, ...]:
    """4 navigation tasks on size x size maps: objects placed anew each episode."""
    return (
        TaskParams(
            name="random_goal", maze=MazeSpec(size, seed=200), goal=True, goal_random=True
        ),
        TaskParams(
            name="random_goal_rooms_apples",
            maze=MazeSpec(size, seed=201, max_rooms=3, extra_connection_probability=0.2),
            goal=True,
            goal_random=True,
            num_apples=6,
        ),
        TaskParams(
            name="object_locations",
            maze=MazeSpec(size, seed=202, extra_connection_probability=0.1),
            num_apples=8,
            apples_random=True,
            regrow_when_empty=True,
            apple_reward=2.0,
        ),
        TaskParams(
            name="random_goal_slippery",
            maze=MazeSpec(size, seed=203, max_rooms=2),
            goal=True,
            goal_random=True,
            num_apples=4,
            apples_random=True,
            slip=0.1,
        ),
    )


LASER_RANGE = 5  # the agent's laser reaches this many cells straight ahead


def lasertag_tasks(size: int) -> tuple[TaskParams, ...]:
    """8 laser-tag tasks: arenas (rooms, loops) or mazes x bot count x bot skill."""
    arena = dict(max_rooms=3, room_min_size=3, room_max_size=5, extra_connection_probability=0.5)
    maze = dict(max_rooms=0, extra_connection_probability=0.2)
    skills = {"easy": (0.2, 0.1, 3), "medium": (0.5, 0.25, 4), "hard": (0.8, 0.5, 5)}  # chase, fire, range
    rows = [
        ("arena", 1, "easy"),
        ("arena", 2, "easy"),
        ("arena", 1, "hard"),
        ("arena", 3, "medium"),
        ("maze", 1, "easy"),
        ("maze", 2, "medium"),
        ("maze", 2, "hard"),
        ("maze", 3, "medium"),
    ]
    tasks = []
    for i, (kind, bots, skill) in enumerate(rows):
        chase, fire, reach = skills[skill]
        tasks.append(
            TaskParams(
                name=f"{kind}_{bots}bot_{skill}",
                maze=MazeSpec(size, seed=300 + i, **(arena if kind == "arena" else maze)),
                num_bots=bots,
                bot_chase=chase,
                bot_fire=fire,
                bot_range=reach,
                tag_reward=1.0,
                tagged_reward=-0.5,
            )
        )
    return tuple(tasks)


@dataclasses.dataclass(frozen=True)
class FamilyDef:
    build_tasks: Callable[[int], tuple[TaskParams, ...]]  # size -> the family's tasks
    channels: tuple[int, ...]
    num_actions: int
    min_size: int  # smallest `size` that gives valid maps for every task
    laser_range: int = 0


FAMILY_DEFS: dict[str, FamilyDef] = {
    "maze": FamilyDef(maze_tasks, (EMPTY, WALL, APPLE, GOAL), 6, min_size=9),
    "navigation": FamilyDef(navigation_tasks, (EMPTY, WALL, APPLE, GOAL), 6, min_size=9),
    "lasertag": FamilyDef(lasertag_tasks, (EMPTY, WALL, BOT), 7, min_size=9, laser_range=LASER_RANGE),
}
NUM_TASKS = {"maze": 8, "navigation": 4, "lasertag": 8}


def preset_settings(family: str, preset: str = "default", **overrides) -> dict:
    """The resolved settings (size, episode_length, reward_scale, num_tasks, view, image_size) of a family and preset.

    `num_tasks` (default: all) keeps the family's first tasks, for quick experiments.
    """
    if family not in FAMILY_DEFS:
        raise ValueError(f"unknown family {family!r}; valid: {', '.join(FAMILY_DEFS)}")
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; valid: {', '.join(PRESETS)}")
    unknown = set(overrides) - set(SETTINGS)
    if unknown:
        raise ValueError(f"unknown env setting(s) {sorted(unknown)}; valid: {', '.join(SETTINGS)}")
    settings = {**VIEW_DEFAULTS, **PRESETS[preset][family], **overrides}
    check_view(settings["view"], settings["image_size"])
    size, length, scale = settings["size"], settings["episode_length"], settings["reward_scale"]
    min_size = FAMILY_DEFS[family].min_size
    if not isinstance(size, (int, np.integer)) or not min_size <= size <= MAX_SIZE or size % 2 == 0:
        raise ValueError(
            f"size for {family} must be an odd integer in {min_size}..{MAX_SIZE} (labmaze maps), got {size!r}"
        )
    count = settings.setdefault("num_tasks", NUM_TASKS[family])
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not 1 <= count <= NUM_TASKS[family]:
        raise ValueError(f"num_tasks for {family} must be an integer in 1..{NUM_TASKS[family]}, got {count!r}")
    if not isinstance(length, (int, np.integer)) or length < 1:
        raise ValueError(f"episode_length must be a positive integer, got {length!r}")
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"reward_scale must be a positive number, got {scale!r}")
    return settings


def family_config(family: str, preset: str = "default", **overrides) -> FamilyConfig:
    """The FamilyConfig of a family under a preset (plus overrides of SETTINGS)."""
    settings = preset_settings(family, preset, **overrides)
    definition = FAMILY_DEFS[family]
    return FamilyConfig(
        family=family,
        tasks=definition.build_tasks(int(settings["size"]))[: settings["num_tasks"]],
        episode_length=int(settings["episode_length"]),
        reward_scale=float(settings["reward_scale"]),
        channels=definition.channels,
        num_actions=definition.num_actions,
        laser_range=definition.laser_range,
        view=settings["view"],
        image_size=int(settings["image_size"]),
    )


def check_task(family: str, task, count: int | None = None) -> int:
    """The task index as an int, or a ValueError naming the valid ones."""
    count = NUM_TASKS[family] if count is None else count
    if isinstance(task, (bool, np.bool_)) or not isinstance(task, (int, np.integer)) or not 0 <= task < count:
        raise ValueError(f"unknown task {task!r} for family {family!r}; valid: 0..{count - 1}")
    return int(task)


def make_grid_family(family: str, num_workers: int, seed: int | None = 0, preset: str = "default", **overrides) -> GridTaskVecEnv:
    """All tasks of a family x `num_workers` workers each, task-major (env j runs task j // num_workers)."""
    if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) or num_workers < 1:
        raise ValueError(f"num_workers must be a positive integer, got {num_workers!r}")
    config = family_config(family, preset, **overrides)
    task_ids = np.repeat(np.arange(len(config.tasks)), num_workers)
    return GridTaskVecEnv(config, task_ids, seed=seed)


def _single_env_class(family: str):
    class_name = {"maze": "MazeEnv", "navigation": "NavigationEnv", "lasertag": "LaserTagEnv"}[family]

    def __init__(
        self, task: int = 0, preset: str = "default", render_mode: str | None = None, env_index: int = 0, **overrides
    ):
        config = family_config(family, preset, **overrides)
        GridTaskEnv.__init__(self, config, check_task(family, task, len(config.tasks)), render_mode, env_index)

    return type(class_name, (GridTaskEnv,), {"__init__": __init__, "__doc__": f"One {family} task as a gymnasium.Env."})


def _vector_env_class(family: str):
    class_name = {"maze": "MazeVecEnv", "navigation": "NavigationVecEnv", "lasertag": "LaserTagVecEnv"}[family]

    def __init__(self, num_envs: int = 1, task: int | None = 0, preset: str = "default", seed: int | None = None, **overrides):
        """`num_envs` copies of one task, or with task=None all tasks (num_envs a multiple of their count)."""
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        config = family_config(family, preset, **overrides)
        if task is None:
            count = len(config.tasks)
            if num_envs % count:
                raise ValueError(f"with task=None, num_envs must be a multiple of {count} (the {family} tasks)")
            task_ids = np.repeat(np.arange(count), num_envs // count)
        else:
            task_ids = np.full(num_envs, check_task(family, task, len(config.tasks)))
        GridTaskVecEnv.__init__(self, config, task_ids, seed=seed)

    return type(class_name, (GridTaskVecEnv,), {"__init__": __init__, "__doc__": f"Batched {family} tasks (native VectorEnv)."})


MazeEnv = _single_env_class("maze")
MazeVecEnv = _vector_env_class("maze")
NavigationEnv = _single_env_class("navigation")
NavigationVecEnv = _vector_env_class("navigation")
LaserTagEnv = _single_env_class("lasertag")
LaserTagVecEnv = _vector_env_class("lasertag")
