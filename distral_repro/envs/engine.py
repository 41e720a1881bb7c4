"""The engine shared by the maze, navigation and laser-tag families.

Every task is a top-down grid map (walls from `labmaze`, see `mazes.py`) seen by the
agent through a small egocentric window oriented to its heading, as a one-hot image
(coordinates and actions: `grid.py`). One engine, `GridTaskVecEnv`, steps *all*
environments of a family (any mix of tasks) with NumPy array operations: per-task maps
live side by side in one padded array and each environment indexes its own task's row,
so there is no Python loop over environments. Randomness comes from one counter-based
stream per environment (`streams.py`); bots and scripted policies use the per-map
tables of `geometry.py`.
"""

from __future__ import annotations

from typing import Sequence

import gymnasium
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from distral_repro.envs.geometry import distance_tables, line_of_sight, move_offsets, view_offsets
from distral_repro.envs.grid import (
    APPLE,
    BOT,
    DIRECTIONS,
    EMPTY,
    FIRE,
    GOAL,
    MOVE_ACTION_FOR_RELATIVE,
    PAD,
    TURN_DELTA,
    VIEW_SIZE,
    WALL,
    describe_actions,
)
from distral_repro.envs.mazes import TaskLayout, generate_walls, place_layout
from distral_repro.envs.streams import CounterStreams
from distral_repro.envs.tasks import FamilyConfig

#: Weight of a cell in a bot's line of fire in the scripted laser-tag player, in half steps per
#: squared fire probability; chosen among 1, 4, 8, 16, 32 by the player's returns on the
#: default preset (docs/study_design.md).
EXPOSURE_WEIGHT = 16.0


class GridTaskVecEnv(VectorEnv):
    """Batched egocentric grid tasks: `num_envs` environments, each running `task_ids[j]`.

    Observations: (N, C, V, V) uint8 one-hot over `config.channels`; actions: (N,) ints
    in [0, A); rewards (N,) float32 already multiplied by the preset's reward scale.
    Episodes end by truncation after `episode_length` steps (a time limit, as in DM Lab).
    With `autoreset=True` (the vector-env behaviour) an ended episode is reset within
    the same step (SAME_STEP): the returned obs is the first of the next episode and
    `info["final_obs"]` holds the last one (valid where `info["_final_obs"]`).
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": ["ansi"]}

    def __init__(
        self, config: FamilyConfig, task_ids: Sequence[int], seed: int | None = None, autoreset: bool = True,
        env_index: int = 0,
    ):
        task_ids = np.asarray(task_ids, dtype=np.int64)
        num_tasks = len(config.tasks)
        if task_ids.ndim != 1 or task_ids.size == 0 or task_ids.min() < 0 or task_ids.max() >= num_tasks:
            raise ValueError(f"task indices must be in 0..{num_tasks - 1} for family {config.family!r}")
        self.config = config
        self.family = config.family
        self.num_envs = int(task_ids.size)
        self.task_ids = task_ids
        self.num_tasks = int(np.unique(task_ids).size)
        self.workers_per_task = self.num_envs // self.num_tasks
        self.autoreset = autoreset
        self.render_mode = None
        self._default_seed = seed
        self._env_index = int(env_index)  # index of this batch's first environment (a single env stands for env j)

        self._build_maps()
        self._build_task_arrays()

        channels = len(config.channels)
        self.single_observation_space = gymnasium.spaces.Box(0, 1, (channels, VIEW_SIZE, VIEW_SIZE), np.uint8)
        self.renderer = None  # first-person view (raycast.py): RGB frames instead of the window
        if config.view == "first_person":
            from distral_repro.envs.raycast import FirstPersonRenderer

            self.renderer = FirstPersonRenderer(self, config.image_size)
            self.single_observation_space = gymnasium.spaces.Box(0, 255, self.renderer.shape, np.uint8)
        self.single_action_space = gymnasium.spaces.Discrete(config.num_actions)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

        n = self.num_envs
        self._rows = np.arange(n)
        self._row_base = self._rows * self.cells_per_map
        self._task_base = self.task_ids * self.cells_per_map
        self.grid = np.zeros((n, self.cells_per_map), dtype=np.uint8)  # current cell types
        self.episode_grid = np.zeros_like(self.grid)  # this episode's initial cell types
        self.position = np.zeros(n, dtype=np.int64)
        self.heading = np.zeros(n, dtype=np.int64)
        self.goal_cell = -np.ones(n, dtype=np.int64)
        self.apples_left = np.zeros(n, dtype=np.int64)
        self.elapsed = np.zeros(n, dtype=np.int64)
        self.episode_return = np.zeros(n, dtype=np.float64)
        self.bot_cell = np.zeros((n, self.max_bots), dtype=np.int64)
        self.streams = CounterStreams(n)
        self._needs_reset = np.ones(n, dtype=bool)
        self._seeded = False
        self._channel_codes = np.array(config.channels, dtype=np.uint8)[None, :, None]

    # ------------------------------------------------------------------ construction

    def _build_maps(self) -> None:
        """Generate every task's walls, pad them into one array and place candidates."""
        cfg = self.config
        min_free = [t.num_apples + int(t.goal) + max(t.num_bots, 1) + 4 for t in cfg.tasks]
        walls = [generate_walls(t.maze, m) for t, m in zip(cfg.tasks, min_free)]
        side = max(w.shape[0] for w in walls) + 2 * PAD
        self.height = self.width = side
        self.cells_per_map = side * side
        padded = np.ones((len(walls), side, side), dtype=bool)
        self.layouts = []
        for i, (task, w) in enumerate(zip(cfg.tasks, walls)):
            padded[i, PAD : PAD + w.shape[0], PAD : PAD + w.shape[1]] = w
            spawns, objects = place_layout(w, side, layout_seed=task.maze.seed, spawn_fraction=task.spawn_fraction)
            num_fixed = (task.goal and not task.goal_random) + (0 if task.apples_random else task.num_apples)
            num_random = (task.goal and task.goal_random) + (task.num_apples if task.apples_random else 0)
            if len(objects) < num_fixed + num_random:
                raise ValueError(
                    f"task {task.name!r}: a {w.shape[0]}x{w.shape[1]} map has {len(objects)} free cells for "
                    f"{num_fixed + num_random} objects; use a larger map size"
                )
            # Fixed objects take the first candidates; random ones are drawn from the rest.
            layout = TaskLayout(walls=w, spawn_cells=spawns, object_cells=objects[num_fixed:])
            cursor = 0
            if task.goal and not task.goal_random:
                layout.fixed_goal = int(objects[0])
                cursor = 1
            if not task.apples_random:
                layout.fixed_apples = objects[cursor:num_fixed]
            self.layouts.append(layout)
        self.walls = padded.reshape(len(walls), -1)  # (T, H*W) bool
        self._wall_flat = self.walls.ravel()
        self._view = view_offsets(side)
        self._move = move_offsets(side)
        self._dir_step = DIRECTIONS[:, 0] * side + DIRECTIONS[:, 1]
        self._distance = None  # all-pairs tables, built on first use (scripted policies, bots)
        self._next_direction = None

    def _build_task_arrays(self) -> None:
        """Per-task parameters as arrays indexed by task, and padded candidate lists."""
        cfg, tasks = self.config, self.config.tasks
        self.max_bots = max(t.num_bots for t in tasks)
        self.templates = np.where(self.walls, WALL, EMPTY).astype(np.uint8)  # (T, H*W)
        for i, layout in enumerate(self.layouts):
            self.templates[i, layout.fixed_apples] = APPLE
            if layout.fixed_goal >= 0:
                self.templates[i, layout.fixed_goal] = GOAL

        def padded(lists):
            width = max(len(c) for c in lists)
            out = np.zeros((len(lists), width), dtype=np.int64)
            for i, c in enumerate(lists):
                out[i, : len(c)] = c
            return out, np.array([len(c) for c in lists])

        self._spawns, self._num_spawns = padded([l.spawn_cells for l in self.layouts])
        self._objects, self._num_objects = padded([l.object_cells for l in self.layouts])
        self._has_goal = np.array([t.goal for t in tasks])
        self._goal_random = np.array([t.goal and t.goal_random for t in tasks])
        self._fixed_goal = np.array([l.fixed_goal for l in self.layouts])
        self._num_apples = np.array([t.num_apples for t in tasks])
        self._apples_random = np.array([t.apples_random for t in tasks])
        self._random_objects = self._num_apples * self._apples_random + self._goal_random
        scale = cfg.reward_scale
        self._apple_reward = np.array([t.apple_reward for t in tasks]) * scale
        self._goal_reward = np.array([t.goal_reward for t in tasks]) * scale
        self._regrow_on_goal = np.array([t.regrow_on_goal for t in tasks])
        self._regrow_when_empty = np.array([t.regrow_when_empty for t in tasks])
        self._slip = np.array([t.slip for t in tasks])
        self._num_bots = np.array([t.num_bots for t in tasks])
        self._bot_chase = np.array([t.bot_chase for t in tasks])
        self._bot_fire = np.array([t.bot_fire for t in tasks])
        self._bot_range = np.array([t.bot_range for t in tasks])
        self._tag_reward = np.array([t.tag_reward for t in tasks]) * scale
        self._tagged_reward = np.array([t.tagged_reward for t in tasks]) * scale
        self._any_slip = bool(self._slip.any())
        self._any_apples = bool(self._num_apples.any())
        self._any_goal = bool(self._has_goal.any())
        if self.max_bots:
            self._build_bot_tables()

    def _build_bot_tables(self) -> None:
        """Line-of-sight and shortest-path tables for bots and the agent's laser."""
        reach = max(self.config.laser_range, int(self._bot_range.max()))
        self._sight = np.stack([line_of_sight(w, self.width, reach) for w in self.walls]).reshape(-1)
        self._ensure_distance_tables()

    def _ensure_distance_tables(self) -> None:
        if self._distance is None:
            tables = [distance_tables(w, self.width) for w in self.walls]
            self._distance = np.stack([t[0] for t in tables])  # (T, HW, HW)
            self._next_direction = np.stack([t[1] for t in tables]).reshape(-1)

    # ------------------------------------------------------------------ episode starts

    def _spawn_cells(self, rows: np.ndarray, u: np.ndarray, avoid: np.ndarray | None = None) -> np.ndarray:
        """Random spawn cells of the rows' tasks from uniforms u (len(rows),); skips `avoid`."""
        tasks = self.task_ids[rows]
        count = self._num_spawns[tasks]
        pick = np.minimum((u * count).astype(np.int64), count - 1)
        cells = self._spawns[tasks, pick]
        if avoid is not None:
            clash = cells == avoid
            if clash.any():
                cells[clash] = self._spawns[tasks[clash], (pick[clash] + 1) % count[clash]]
        return cells

    def _start_episodes(self, rows: np.ndarray) -> None:
        """Reset the given environments (their streams continue)."""
        if rows.size == 0:
            return
        tasks = self.task_ids[rows]
        grid = self.templates[tasks]
        goal = np.where(self._has_goal[tasks], self._fixed_goal[tasks], -1)
        num_random = self._random_objects[tasks]
        if num_random.any():
            # Distinct random object cells: sort random keys over the task's candidates.
            sub = np.flatnonzero(num_random > 0)  # only these envs draw, so streams stay per-env
            sub_tasks = tasks[sub]
            width = self._objects.shape[1]
            keys = self.streams.uniform(rows[sub], width)
            keys[np.arange(width)[None, :] >= self._num_objects[sub_tasks][:, None]] = 2.0
            order = np.argsort(keys, axis=1, kind="stable")[:, : int(num_random.max())]
            chosen = np.take_along_axis(self._objects[sub_tasks], order, axis=1)
            slot = np.arange(chosen.shape[1])[None, :]
            goal_random = self._goal_random[sub_tasks]
            goal[sub] = np.where(goal_random, chosen[:, 0], goal[sub])
            apple_slot = (
                (slot >= goal_random[:, None])
                & (slot < num_random[sub][:, None])
                & self._apples_random[sub_tasks][:, None]
            )
            r, c = np.nonzero(apple_slot)
            grid[sub[r], chosen[r, c]] = APPLE
        has = goal >= 0
        grid[np.flatnonzero(has), goal[has]] = GOAL
        self.grid[rows] = grid
        self.episode_grid[rows] = grid
        self.goal_cell[rows] = goal
        self.apples_left[rows] = self._num_apples[tasks]
        u = self.streams.uniform(rows, 2 + self.max_bots)
        self.position[rows] = self._spawn_cells(rows, u[:, 0], avoid=goal)
        self.heading[rows] = (u[:, 1] * 4).astype(np.int64)
        if self.max_bots:
            bots = np.zeros((rows.size, self.max_bots), dtype=np.int64)
            for b in range(self.max_bots):  # a loop over bot slots (at most a few), not envs
                bots[:, b] = self._spawn_cells(rows, u[:, 2 + b], avoid=self.position[rows])
            bots[np.arange(self.max_bots)[None, :] >= self._num_bots[tasks][:, None]] = 0
            self.bot_cell[rows] = bots  # inactive bots park at cell 0, a padding wall
        self.elapsed[rows] = 0
        self.episode_return[rows] = 0.0
        self._needs_reset[rows] = False

    # ------------------------------------------------------------------ observations

    def _observe(self) -> np.ndarray:
        """(N, C, V, V) uint8 one-hot egocentric views, or (N, 3, S, S) first-person frames."""
        if self.renderer is not None:
            return self.renderer.render(self)
        cells = self.position[:, None] + self._view[self.heading]  # (N, V*V)
        codes = self.grid.ravel()[self._row_base[:, None] + cells]
        if self.max_bots:
            seen = (cells[:, :, None] == self.bot_cell[:, None, :]).any(axis=2)
            codes = np.where(seen, BOT, codes)
        onehot = codes[:, None, :] == self._channel_codes
        return onehot.view(np.uint8).reshape(self.num_envs, -1, VIEW_SIZE, VIEW_SIZE)

    # ------------------------------------------------------------------ gymnasium API

    def reset(self, *, seed: int | Sequence[int] | None = None, options: dict | None = None):
        """Reset every environment. `seed`: int, a list of one int per environment, or None.

        Environment j's stream is keyed by (seed, j) (`streams.stream_keys`), or by
        (seed[j], j) for a list, so an int s is the list [s] * num_envs. With None the
        first reset uses the seed given at construction (random if none); later resets
        continue each environment's stream.
        """
        if seed is None and not self._seeded:
            seed = self._default_seed
            if seed is None:
                seed = int(np.random.SeedSequence().entropy % (2**31))
        if seed is not None:
            if isinstance(seed, (int, np.integer)):
                seeds = np.full(self.num_envs, int(seed), dtype=np.int64)
            else:
                seeds = np.asarray(seed, dtype=np.int64)
                if seeds.shape != (self.num_envs,):
                    raise ValueError(f"seed must be an int or a list of {self.num_envs} ints, got shape {seeds.shape}")
            if seeds.min() < 0:
                raise ValueError(f"seeds must be non-negative integers, got {seeds.min()}")
            self.streams.seed(self._rows, seeds, self._rows + self._env_index)
            self._seeded = True
        self._start_episodes(self._rows)
        return self._observe(), {}

    def _check_actions(self, actions) -> np.ndarray:
        actions = np.asarray(actions)
        num_actions = self.config.num_actions
        if actions.shape != (self.num_envs,) or actions.dtype.kind not in "iu" or (
            actions.size and (actions.min() < 0 or actions.max() >= num_actions)
        ):
            raise ValueError(
                f"actions must be {self.num_envs} integers in [0, {num_actions}) "
                f"({describe_actions(num_actions)}); got {actions.dtype} array of shape {actions.shape}"
                + (f", values {actions.min()}..{actions.max()}" if actions.size and actions.dtype.kind in "iuf" else "")
            )
        return actions.astype(np.int64, copy=False)

    def step(self, actions):
        actions = self._check_actions(actions)
        if self._needs_reset.any():
            raise RuntimeError("step() called on ended episodes: call reset() first (autoreset is off)")
        tasks = self.task_ids
        # Fixed draws per step: [0, 1] slip, [2, 3] agent respawn, then per bot: respawn, fire, move.
        draws = self.streams.uniform(slice(None), 4 + 3 * self.max_bots) if self._draws_per_step else None
        if self._any_slip:
            slipped = draws[:, 0] < self._slip[tasks]
            random_action = np.minimum((draws[:, 1] * self.config.num_actions).astype(np.int64), self.config.num_actions - 1)
            actions = np.where(slipped, random_action, actions)

        # Move: the target cell unless it is a wall. Turn.
        target = self.position + self._move[self.heading, actions]
        blocked = self._wall_flat[self._task_base + target]
        moved = ~blocked & (target != self.position)
        self.position = np.where(blocked, self.position, target)
        self.heading = (self.heading + TURN_DELTA[actions]) & 3
        reward = np.zeros(self.num_envs, dtype=np.float64)

        if self._any_apples or self._any_goal:
            reward += self._collect(moved)
        if self.max_bots:
            reward += self._laser_tag(actions, draws)

        self.elapsed += 1
        self.episode_return += reward
        truncated = self.elapsed >= self.config.episode_length
        terminated = np.zeros(self.num_envs, dtype=bool)
        info = {}
        if truncated.any():
            ended = np.flatnonzero(truncated)
            info = self._end_info(truncated)
            if self.autoreset:
                self._start_episodes(ended)
            else:
                self._needs_reset[ended] = True
        return self._observe(), reward.astype(np.float32), terminated, truncated, info

    @property
    def max_episode_steps(self) -> int:
        """Episodes last at most this many steps (the family contract's episode cap)."""
        return self.config.episode_length

    @property
    def _draws_per_step(self) -> bool:
        return self._any_slip or self.max_bots > 0

    def _end_info(self, ended: np.ndarray) -> dict:
        """Final observations and episode statistics of the environments that just ended."""
        return {
            "final_obs": self._observe(),
            "_final_obs": ended,
            "final_info": {},
            "_final_info": ended,
            "episode_return": self.episode_return.astype(np.float32),
            "episode_length": self.elapsed.copy(),
            "_episode_return": ended,
            "_episode_length": ended,
        }

    # ------------------------------------------------------------------ apples and goals

    def _collect(self, moved: np.ndarray) -> np.ndarray:
        """Rewards for entering apple/goal cells; respawn on goal; regrow apples."""
        tasks = self.task_ids
        flat = self._row_base + self.position
        code = self.grid.ravel()[flat]
        ate = moved & (code == APPLE)
        reached = moved & (code == GOAL)
        reward = np.where(ate, self._apple_reward[tasks], 0.0) + np.where(reached, self._goal_reward[tasks], 0.0)
        if ate.any():
            self.grid.ravel()[flat[ate]] = EMPTY
            self.apples_left -= ate
            regrow = ate & (self.apples_left == 0) & self._regrow_when_empty[tasks]
            if regrow.any():
                self._regrow(np.flatnonzero(regrow))
        if reached.any():
            rows = np.flatnonzero(reached)
            # DM Lab teleports the agent to a random spawn point once the goal is reached.
            u = self.streams.uniform(rows, 2)
            self.position[rows] = self._spawn_cells(rows, u[:, 0], avoid=self.goal_cell[rows])
            self.heading[rows] = (u[:, 1] * 4).astype(np.int64)
            regrow = rows[self._regrow_on_goal[tasks[rows]]]
            self._regrow(regrow)
        return reward

    def _regrow(self, rows: np.ndarray) -> None:
        self.grid[rows] = self.episode_grid[rows]
        self.apples_left[rows] = self._num_apples[self.task_ids[rows]]

    # ------------------------------------------------------------------ laser tag

    def _laser_tag(self, actions: np.ndarray, draws: np.ndarray) -> np.ndarray:
        """Agent fires, bots respawn when tagged; bots move and fire back."""
        tasks = self.task_ids
        hw = self.cells_per_map
        active = np.arange(self.max_bots)[None, :] < self._num_bots[tasks][:, None]  # (N, B)
        sight_base = (tasks * hw * hw)[:, None]
        reward = np.zeros(self.num_envs)

        # The agent's laser: every active bot straight ahead within range is tagged.
        agent_to_bot = self._sight[sight_base + self.position[:, None] * hw + self.bot_cell]
        distance_to_bot = self._manhattan(self.position[:, None], self.bot_cell)
        hit = (
            (actions == FIRE)[:, None]
            & active
            & (agent_to_bot == self.heading[:, None] + 1)
            & (distance_to_bot <= self.config.laser_range)
        )
        if hit.any():
            reward += hit.sum(axis=1) * self._tag_reward[tasks]
            r, b = np.nonzero(hit)
            self.bot_cell[r, b] = self._spawn_cells(r, draws[r, 4 + b], avoid=self.position[r])

        # Bots fire at an agent in their line of sight and range, with their skill.
        bot_to_agent = self._sight[sight_base + self.bot_cell * hw + self.position[:, None]]
        in_range = self._manhattan(self.bot_cell, self.position[:, None]) <= self._bot_range[tasks][:, None]
        fire_u = draws[:, 4 + self.max_bots : 4 + 2 * self.max_bots]
        shots = active & (bot_to_agent > 0) & in_range & (fire_u < self._bot_fire[tasks][:, None])
        tagged = shots.any(axis=1)
        if tagged.any():
            rows = np.flatnonzero(tagged)
            reward[rows] += self._tagged_reward[tasks[rows]]
            self.position[rows] = self._spawn_cells(rows, draws[rows, 2])
            self.heading[rows] = (draws[rows, 3] * 4).astype(np.int64)

        # Bots move: towards the agent along a shortest path with their skill, else at random.
        move_u = draws[:, 4 + 2 * self.max_bots : 4 + 3 * self.max_bots]
        chase_p = self._bot_chase[tasks][:, None]
        chase = move_u < chase_p
        # Given no chase, (u - p) / (1 - p) is again uniform: it picks the random direction.
        rest = np.clip((move_u - chase_p) / np.maximum(1.0 - chase_p, 1e-9), 0.0, 0.999999)
        random_dir = (rest * 4).astype(np.int64)
        towards = self._next_direction[sight_base + self.bot_cell * hw + self.position[:, None]]
        direction = np.where(chase, towards, random_dir)
        target = np.where(active, self.bot_cell + self._dir_step[direction], self.bot_cell)
        blocked = self._wall_flat[self._task_base[:, None] + target] | ~active
        self.bot_cell = np.where(blocked, self.bot_cell, target)
        return reward

    def _manhattan(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        w = self.width
        return np.abs(a // w - b // w) + np.abs(a % w - b % w)

    # ------------------------------------------------------------------ scripted policies (privileged)

    def scripted_actions(self) -> np.ndarray:
        """A privileged policy, (N,) actions: the upper reference of the tasks' scores.

        Collect tasks: walk the shortest path to the nearest apple or goal. Laser tag:
        `_laser_tag_actions`, a player that chases, aims and fires.
        """
        if self.max_bots:
            return self._laser_tag_actions()
        self._ensure_distance_tables()
        tasks = self.task_ids
        hw = self.cells_per_map
        dist_rows = self._distance[tasks, self.position]  # (N, HW)
        targets_mask = (self.grid == APPLE) | (self.grid == GOAL)
        dist = np.where(targets_mask & (dist_rows > 0), dist_rows, 10_000)
        target = np.argmin(dist, axis=1)
        direction = self._next_direction[tasks * hw * hw + self.position * hw + target]
        return MOVE_ACTION_FOR_RELATIVE[(direction - self.heading) & 3]

    def _build_aim_tables(self) -> None:
        """`_aim[t, h, a, b]`: fewest moves from cell a to a cell that sees cell b straight ahead
        in heading h within laser range (the engine's line of sight and shortest paths)."""
        if getattr(self, "_aim", None) is not None:
            return
        self._ensure_distance_tables()
        big = np.int16(10_000)
        hw = self.cells_per_map
        cells = np.arange(hw)
        aim = np.full((len(self.walls), 4, hw, hw), big, dtype=np.int16)
        for t, wall in enumerate(self.walls):
            dist = np.where(self._distance[t] >= 0, self._distance[t], big).astype(np.int16)  # (HW, HW)
            for h in range(4):
                clear = ~wall.copy()  # the target cell itself must be free
                for k in range(1, self.config.laser_range + 1):
                    shooter = np.clip(cells - k * self._dir_step[h], 0, hw - 1)  # k cells behind, facing h
                    clear &= ~wall[shooter]
                    cols = np.flatnonzero(clear)
                    aim[t, h][:, cols] = np.minimum(aim[t, h][:, cols], dist[:, shooter[cols]])
        self._aim = aim

    def _laser_tag_actions(self) -> np.ndarray:
        """Fire at a bot straight ahead in range; otherwise take the move or turn that most
        shortens the way to a shot: min over bots and headings of (moves to a cell that sees
        the bot along that heading + quarter turns to face it). Among equally short ways it
        avoids cells a bot can shoot at, the more so the better the bot shoots."""
        self._build_aim_tables()
        tasks = self.task_ids
        hw = self.cells_per_map
        n = self.num_envs
        active = np.arange(self.max_bots)[None, :] < self._num_bots[tasks][:, None]  # (N, B)
        sight_base = (tasks * hw * hw)[:, None]
        sight = self._sight[sight_base + self.position[:, None] * hw + self.bot_cell]
        in_range = self._manhattan(self.position[:, None], self.bot_cell) <= self.config.laser_range
        ahead = (active & (sight == self.heading[:, None] + 1) & in_range).any(axis=1)

        moves = np.arange(FIRE)  # every action but fire: the four moves and the two turns
        target = self.position[:, None] + self._move[self.heading[:, None], moves[None, :]]  # (N, 6)
        blocked = self._wall_flat[self._task_base[:, None] + target]
        new_pos = np.where(blocked, self.position[:, None], target)
        new_heading = (self.heading[:, None] + TURN_DELTA[moves][None, :]) & 3
        # cost[n, a, b, h] = aim[task, h, new_pos, bot] + turns(new_heading -> h)
        h = np.arange(4)
        turns = np.minimum((h[None, None, :] - new_heading[:, :, None]) & 3, (new_heading[:, :, None] - h[None, None, :]) & 3)
        aim = self._aim[tasks[:, None, None, None], h[None, None, None, :], new_pos[:, :, None, None],
                        self.bot_cell[:, None, :, None]].astype(np.int64)  # (N, 6, B, 4)
        cost = aim + turns[:, :, None, :]
        cost = np.where(active[:, None, :, None], cost, 10_000).min(axis=(2, 3))  # (N, 6)
        exposed = (
            active[:, None, :]
            & (self._sight[sight_base[:, :, None] + self.bot_cell[:, None, :] * hw + new_pos[:, :, None]] > 0)
            & (self._manhattan(self.bot_cell[:, None, :], new_pos[:, :, None]) <= self._bot_range[tasks][:, None, None])
        ).any(axis=2)
        # A cell in a bot's line of fire costs EXPOSURE_WEIGHT * fire_probability**2 half
        # steps: nearly nothing against easy bots, two steps against the hard ones (fire 0.5),
        # where waiting for the chasing bot to walk into the laser (the agent fires first)
        # beats walking into its line.
        penalty = EXPOSURE_WEIGHT * self._bot_fire[tasks][:, None] ** 2
        best = np.argmin(2 * cost + penalty * exposed, axis=1)
        actions = moves[best]
        return np.where(ahead, FIRE, actions)

    # ------------------------------------------------------------------ text rendering

    def render_text(self, index: int = 0) -> str:
        """The full map of environment `index` as text: # wall, a apple, G goal, B bot, ^>v< agent."""
        glyph = {EMPTY: " ", WALL: "#", APPLE: "a", GOAL: "G", BOT: "B"}
        cells = self.grid[index].copy()
        for cell in self.bot_cell[index, : self._num_bots[self.task_ids[index]]]:
            cells[cell] = BOT
        chars = np.array([glyph[c] for c in cells]).reshape(self.height, self.width)
        y, x = divmod(int(self.position[index]), self.width)
        chars[y, x] = "^>v<"[self.heading[index]]
        size = self.layouts[self.task_ids[index]].walls.shape[0]
        return "\n".join("".join(row[PAD : PAD + size]) for row in chars[PAD : PAD + size])


class GridTaskEnv(gymnasium.Env):
    """One task of a family as a plain `gymnasium.Env` (a batched engine of size 1).

    Built with `env_index=j` and reset with `seed=s` it follows the same trajectory as
    environment j of a batched env (of the same task) reset with `seed=s`.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, config: FamilyConfig, task: int, render_mode: str | None = None, env_index: int = 0):
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        if int(env_index) < 0:
            raise ValueError(f"env_index must be a non-negative integer, got {env_index!r}")
        self.engine = GridTaskVecEnv(config, [task], autoreset=False, env_index=int(env_index))
        self.task = task
        self.render_mode = render_mode
        self.observation_space = self.engine.single_observation_space
        self.action_space = self.engine.single_action_space

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is None and not self.engine._seeded:
            seed = int(self.np_random.integers(2**31))
        obs, _ = self.engine.reset(seed=seed)
        return obs[0], {}

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(
                f"action must be an integer in [0, {self.action_space.n}) "
                f"({describe_actions(int(self.action_space.n))}), got {action!r}"
            )
        obs, reward, terminated, truncated, info = self.engine.step(np.array([int(action)]))
        out_info = {}
        if truncated[0] or terminated[0]:
            obs = info["final_obs"]
            out_info = {"episode_return": float(info["episode_return"][0]), "episode_length": int(info["episode_length"][0])}
        return obs[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), out_info

    def render(self):
        if self.render_mode == "ansi":
            return self.engine.render_text(0)
        return None
