"""The two-room grid world of the paper's tabular experiment (SPEC.md §5, Figure 3).

This module is the one definition of the map and of its four tasks. Two users share it:

- the tabular soft-Q learner (`distral_repro.tabular`) reads `two_room_map()`: locations,
  the transition table of the four compass moves, starts and goals;
- gymnasium: `GridWorldEnv` (one task, `gymnasium.make("distral_repro/GridWorld-v0", task=k)`),
  `GridWorldVecEnv` (native batched, `vector_entry_point`) and `make_gridworld_family`
  (all 4 tasks x workers, the batched-env contract of docs/contracts.md). They run on
  the shared engine `GridTaskVecEnv` (egocentric one-hot views, seeding, autoreset);
  only the fixed map and the compass moves are specific to this family.

The map: two 5x5 rooms joined by a 5-cell corridor. Every task starts somewhere in the
west room and has its goal somewhere in the east room ("the goal locations, which are in
the other room", as the paper puts it), so all tasks share the walk through the corridor.
Reaching the goal gives +10 and ends the episode (terminated); otherwise episodes are cut
after 100 steps (truncated).

Actions are the four compass moves (0 north, 1 east, 2 south, 3 west; the headings of
`distral_repro.envs.grid`). A move into a wall leaves the agent in place. In the
gymnasium envs the agent faces the way it last tried to move, and its 5x5 view is
oriented that way, as in the other families.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Sequence

import numpy as np

from distral_repro.envs.engine import GridTaskEnv, GridTaskVecEnv
from distral_repro.envs.geometry import move_offsets, view_offsets
from distral_repro.envs.grid import DIRECTIONS, EMPTY, GOAL, PAD, WALL
from distral_repro.envs.mazes import MazeSpec, TaskLayout
from distral_repro.envs.tasks import FamilyConfig, TaskParams
from distral_repro.envs.families import PRESET_NAMES, check_task

# '#' wall, '.' free. Row 3 is the corridor between the west and the east room.
TWO_ROOM_LAYOUT = (
    "#################",
    "#.....#####.....#",
    "#.....#####.....#",
    "#...............#",
    "#.....#####.....#",
    "#.....#####.....#",
    "#################",
)
# (row, column) of each task's start (west room) and goal (east room).
TASK_STARTS = ((1, 1), (5, 2), (2, 3), (4, 1))
TASK_GOALS = ((5, 14), (1, 13), (4, 15), (2, 12))
TASK_NAMES = ("goal_south_east", "goal_north_west", "goal_east", "goal_north")
NUM_TASKS = len(TASK_STARTS)

COMPASS_NAMES = ("north", "east", "south", "west")
NUM_ACTIONS = len(COMPASS_NAMES)
EPISODE_LENGTH = 100  # the paper's "episodes of at most 100 steps"
GOAL_REWARD = 10.0  # as the goals of the other families; docs/gridworld.md on this choice

# The map is fixed, so the presets differ in nothing but are accepted like the other families'.
PRESETS = {name: dict(episode_length=EPISODE_LENGTH, reward_scale=1.0) for name in PRESET_NAMES}
SETTINGS = ("episode_length", "reward_scale")


def describe_compass() -> str:
    """'0=north, 1=east, 2=south, 3=west' for error messages."""
    return ", ".join(f"{i}={name}" for i, name in enumerate(COMPASS_NAMES))


# ----------------------------------------------------------------------------- the map, as tables


def layout_walls(layout: Sequence[str] = TWO_ROOM_LAYOUT) -> np.ndarray:
    """(H, W) bool wall map from rows of '#' (wall) and '.' (free)."""
    return np.array([[ch == "#" for ch in row] for row in layout], dtype=bool)


def compass_transitions(walls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Locations of a map and where each compass move leads.

    Args:
        walls: (H, W) bool, True = wall; the border must be walls.
    Returns:
        cells (L, 2) int64, the (row, column) of each free cell in row-major order (the
        location index); next_location (L, 4) int64, the location after moving north,
        east, south or west (the same location when a wall is in the way).
    """
    cells = np.argwhere(~walls)
    index = -np.ones(walls.shape, dtype=np.int64)
    index[cells[:, 0], cells[:, 1]] = np.arange(len(cells))
    target = cells[:, None, :] + DIRECTIONS[None, :, :]  # (L, 4, 2)
    target_index = index[target[..., 0], target[..., 1]]
    next_location = np.where(target_index >= 0, target_index, np.arange(len(cells))[:, None])
    return cells, next_location


@dataclasses.dataclass(frozen=True)
class TwoRoomMap:
    """The two-room map as arrays for a tabular learner (L free cells = locations)."""

    walls: np.ndarray  # (H, W) bool
    cells: np.ndarray  # (L, 2) (row, column) of each location
    next_location: np.ndarray  # (L, 4) location after each compass move
    start_location: np.ndarray  # (num_tasks,) location index of each task's start
    goal_location: np.ndarray  # (num_tasks,)

    @property
    def num_locations(self) -> int:
        return len(self.cells)

    def location_of(self, row: int, column: int) -> int:
        """Location index of a free cell (ValueError for a wall or outside the map)."""
        match = np.flatnonzero((self.cells[:, 0] == row) & (self.cells[:, 1] == column))
        if match.size != 1:
            raise ValueError(f"({row}, {column}) is not a free cell of the map")
        return int(match[0])


@functools.lru_cache(maxsize=1)
def two_room_map() -> TwoRoomMap:
    """The map and the tasks' starts and goals (built once; arrays are read-only)."""
    walls = layout_walls()
    cells, next_location = compass_transitions(walls)
    partial = TwoRoomMap(walls, cells, next_location, np.zeros(0, np.int64), np.zeros(0, np.int64))
    starts = np.array([partial.location_of(*rc) for rc in TASK_STARTS])
    goals = np.array([partial.location_of(*rc) for rc in TASK_GOALS])
    result = dataclasses.replace(partial, start_location=starts, goal_location=goals)
    for array in (result.walls, result.cells, result.next_location, result.start_location, result.goal_location):
        array.flags.writeable = False
    return result


# ----------------------------------------------------------------------------- gymnasium envs


@dataclasses.dataclass(frozen=True)
class GridWorldTask(TaskParams):
    """A grid-world task: a fixed start and goal on the fixed map (no labmaze spec)."""

    maze: MazeSpec | None = None  # the map is TWO_ROOM_LAYOUT, not generated
    start: tuple[int, int] = (1, 1)
    goal_at: tuple[int, int] = (1, 2)


def gridworld_config(preset: str = "default", **overrides) -> FamilyConfig:
    """The FamilyConfig of the grid world (overrides: episode_length, reward_scale)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; valid: {', '.join(PRESETS)}")
    unknown = set(overrides) - set(SETTINGS)
    if unknown:
        raise ValueError(f"unknown gridworld setting(s) {sorted(unknown)}; valid: {', '.join(SETTINGS)}")
    settings = {**PRESETS[preset], **overrides}
    length, scale = settings["episode_length"], settings["reward_scale"]
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
        raise ValueError(f"episode_length must be a positive integer, got {length!r}")
    if not isinstance(scale, (int, float, np.number)) or not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"reward_scale must be a positive number, got {scale!r}")
    tasks = tuple(
        GridWorldTask(name=name, goal=True, goal_reward=GOAL_REWARD, start=start, goal_at=goal)
        for name, start, goal in zip(TASK_NAMES, TASK_STARTS, TASK_GOALS)
    )
    return FamilyConfig(
        family="gridworld",
        tasks=tasks,
        episode_length=int(length),
        reward_scale=float(scale),
        channels=(EMPTY, WALL, GOAL),
        num_actions=NUM_ACTIONS,
    )


class GridWorldVecEnv(GridTaskVecEnv):
    """Batched grid-world tasks (native VectorEnv): `num_envs` copies of one task, or
    with task=None all 4 tasks (num_envs a multiple of 4, task-major).

    Observations (N, 3, 5, 5) uint8 one-hot over (empty, wall, goal); actions (N,) compass
    moves; reward +10 (x reward_scale) and termination at the goal; truncation after
    `episode_length` steps; SAME_STEP autoreset with `final_obs` and episode statistics
    in `info` (see GridTaskVecEnv).
    """

    def __init__(
        self,
        num_envs: int = 1,
        task: int | None = 0,
        preset: str = "default",
        seed: int | None = None,
        autoreset: bool = True,
        **overrides,
    ):
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        config = gridworld_config(preset, **overrides)
        if task is None:
            if num_envs % NUM_TASKS:
                raise ValueError(f"with task=None, num_envs must be a multiple of {NUM_TASKS} (the gridworld tasks)")
            task_ids = np.repeat(np.arange(NUM_TASKS), num_envs // NUM_TASKS)
        else:
            task_ids = np.full(num_envs, check_task("gridworld", task, NUM_TASKS))
        super().__init__(config, task_ids, seed=seed, autoreset=autoreset)

    def _build_maps(self) -> None:
        """The fixed two-room map (the same for every task), padded like the engine's maps."""
        walls = two_room_map().walls
        rows, columns = walls.shape
        self.height, self.width = rows + 2 * PAD, columns + 2 * PAD
        self.cells_per_map = self.height * self.width
        padded = np.ones((self.height, self.width), dtype=bool)
        padded[PAD : PAD + rows, PAD : PAD + columns] = walls

        def flat(row_column: tuple[int, int]) -> int:
            return (row_column[0] + PAD) * self.width + row_column[1] + PAD

        self.layouts = [
            TaskLayout(
                walls=walls,
                spawn_cells=np.array([flat(task.start)]),
                object_cells=np.zeros(0, dtype=np.int64),
                fixed_goal=flat(task.goal_at),
            )
            for task in self.config.tasks
        ]
        self.walls = np.repeat(padded.reshape(1, -1), len(self.config.tasks), axis=0)  # (T, H*W)
        self._wall_flat = self.walls.ravel()
        self._view = view_offsets(self.width)
        self._move = move_offsets(self.width)
        self._dir_step = DIRECTIONS[:, 0] * self.width + DIRECTIONS[:, 1]
        self._distance = None
        self._next_direction = None

    def _check_actions(self, actions) -> np.ndarray:
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) or actions.dtype.kind not in "iu" or (
            actions.size and (actions.min() < 0 or actions.max() >= NUM_ACTIONS)
        ):
            raise ValueError(
                f"actions must be {self.num_envs} integers in [0, {NUM_ACTIONS}) ({describe_compass()}); "
                f"got {actions.dtype} array of shape {actions.shape}"
            )
        return actions.astype(np.int64, copy=False)

    def step(self, actions):
        """Compass moves; the goal rewards and ends the episode (SAME_STEP autoreset)."""
        actions = self._check_actions(actions)
        if self._needs_reset.any():
            raise RuntimeError("step() called on ended episodes: call reset() first (autoreset is off)")
        target = self.position + self._dir_step[actions]
        blocked = self._wall_flat[self._task_base + target]
        self.position = np.where(blocked, self.position, target)
        self.heading = actions.copy()  # the agent faces the way it tried to move
        terminated = self.position == self.goal_cell
        reward = np.where(terminated, self._goal_reward[self.task_ids], 0.0)
        self.elapsed += 1
        self.episode_return += reward
        truncated = (self.elapsed >= self.config.episode_length) & ~terminated
        ended = terminated | truncated
        info = {}
        if ended.any():
            info = self._end_info(ended)
            rows = np.flatnonzero(ended)
            if self.autoreset:
                self._start_episodes(rows)
            else:
                self._needs_reset[rows] = True
        return self._observe(), reward.astype(np.float32), terminated, truncated, info

    def scripted_actions(self) -> np.ndarray:
        """A privileged shortest-path policy: (N,) compass moves towards each goal."""
        self._ensure_distance_tables()
        hw = self.cells_per_map
        return self._next_direction[self.task_ids * hw * hw + self.position * hw + self.goal_cell].astype(np.int64)

    def render_text(self, index: int = 0) -> str:
        """The map of environment `index`: # wall, G goal, ^>v< the agent and its heading."""
        glyph = {EMPTY: ".", WALL: "#", GOAL: "G"}
        chars = np.array([glyph[c] for c in self.grid[index]]).reshape(self.height, self.width)
        y, x = divmod(int(self.position[index]), self.width)
        chars[y, x] = "^>v<"[self.heading[index]]
        rows, columns = two_room_map().walls.shape
        return "\n".join("".join(row[PAD : PAD + columns]) for row in chars[PAD : PAD + rows])


class GridWorldEnv(GridTaskEnv):
    """One grid-world task as a gymnasium.Env; `walls` is the (H, W) bool map."""

    def __init__(self, task: int = 0, preset: str = "default", render_mode: str | None = None, **overrides):
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.engine = GridWorldVecEnv(1, task=task, preset=preset, autoreset=False, **overrides)
        self.task = int(task)
        self.render_mode = render_mode
        self.observation_space = self.engine.single_observation_space
        self.action_space = self.engine.single_action_space
        self.walls = two_room_map().walls

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an integer in [0, {NUM_ACTIONS}) ({describe_compass()}), got {action!r}")
        return super().step(action)


def make_gridworld_family(num_workers: int, seed: int | None = 0, preset: str = "default", **overrides) -> GridWorldVecEnv:
    """All 4 grid-world tasks x `num_workers` workers, task-major (env j runs task j // num_workers)."""
    if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) or num_workers < 1:
        raise ValueError(f"num_workers must be a positive integer, got {num_workers!r}")
    return GridWorldVecEnv(NUM_TASKS * num_workers, task=None, preset=preset, seed=seed, **overrides)


__all__ = [
    "TWO_ROOM_LAYOUT",
    "TASK_STARTS",
    "TASK_GOALS",
    "NUM_TASKS",
    "NUM_ACTIONS",
    "COMPASS_NAMES",
    "EPISODE_LENGTH",
    "GOAL_REWARD",
    "TwoRoomMap",
    "two_room_map",
    "compass_transitions",
    "gridworld_config",
    "GridWorldEnv",
    "GridWorldVecEnv",
    "make_gridworld_family",
]
