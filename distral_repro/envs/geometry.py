"""Tables precomputed per map: view and move offsets, shortest paths, line of sight."""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import shortest_path

from distral_repro.envs.grid import DIRECTIONS, FIRE_ACTION_NAMES, RELATIVE_MOVE, VIEW_SIZE

def view_offsets(width: int) -> np.ndarray:
    """Flat offsets of the egocentric window for each heading: (4, V*V) int64.

    Row 0 of the window is farthest ahead, the agent sits at (V-1, V//2), column 0 is
    on its left: the window is rotated with the agent.
    """
    rows, cols = np.meshgrid(np.arange(VIEW_SIZE), np.arange(VIEW_SIZE), indexing="ij")
    ahead = (VIEW_SIZE - 1 - rows).ravel()
    side = (cols - VIEW_SIZE // 2).ravel()
    offsets = np.empty((4, VIEW_SIZE * VIEW_SIZE), dtype=np.int64)
    for heading in range(4):
        fy, fx = DIRECTIONS[heading]
        ry, rx = DIRECTIONS[(heading + 1) % 4]
        offsets[heading] = (ahead * fy + side * ry) * width + (ahead * fx + side * rx)
    return offsets


def move_offsets(width: int) -> np.ndarray:
    """Flat displacement of each action at each heading: (4, 7) int64 (0 = no move)."""
    table = np.zeros((4, len(FIRE_ACTION_NAMES)), dtype=np.int64)
    for heading in range(4):
        for action, relative in enumerate(RELATIVE_MOVE):
            if relative >= 0:
                dy, dx = DIRECTIONS[(heading + relative) % 4]
                table[heading, action] = dy * width + dx
    return table


def distance_tables(wall_flat: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """All-pairs shortest paths on one padded map.

    Args:
        wall_flat: (H*W,) bool, True = wall.
    Returns:
        distance (H*W, H*W) int16, steps between free cells (-1 if either is a wall);
        next_direction (H*W, H*W) int8, the heading of a first step on a shortest path
        from the row cell to the column cell (0 where there is none).
    """
    num_cells = wall_flat.size
    free = np.flatnonzero(~wall_flat)
    index = -np.ones(num_cells, dtype=np.int64)
    index[free] = np.arange(free.size)
    flat_dirs = DIRECTIONS[:, 0] * width + DIRECTIONS[:, 1]
    neighbours = free[:, None] + flat_dirs[None, :]  # (M, 4)
    ok = ~wall_flat[neighbours]
    rows = np.repeat(np.arange(free.size), 4)[ok.ravel()]
    cols = index[neighbours.ravel()[ok.ravel()]]
    graph = coo_matrix((np.ones(rows.size), (rows, cols)), shape=(free.size, free.size)).tocsr()
    free_distance = shortest_path(graph, unweighted=True, directed=False)
    free_distance = np.where(np.isfinite(free_distance), free_distance, 10_000).astype(np.int64)
    # Distance from each neighbour (a wall neighbour: unreachable) to every target.
    big = np.int64(10_000)
    via = np.where(ok[:, :, None], free_distance[np.where(ok, index[neighbours], 0)], big)  # (M, 4, M)
    best = np.argmin(via, axis=1).astype(np.int8)
    distance = -np.ones((num_cells, num_cells), dtype=np.int16)
    distance[np.ix_(free, free)] = free_distance
    next_direction = np.zeros((num_cells, num_cells), dtype=np.int8)
    next_direction[np.ix_(free, free)] = best
    return distance, next_direction


def line_of_sight(wall_flat: np.ndarray, width: int, max_range: int) -> np.ndarray:
    """Straight-line visibility on one padded map: (H*W, H*W) int8.

    Entry [a, b] is 1 + the heading from a to b if b lies straight ahead of a in that
    heading, at most `max_range` cells away with no wall in between; 0 otherwise.
    """
    num_cells = wall_flat.size
    table = np.zeros((num_cells, num_cells), dtype=np.int8)
    free = np.flatnonzero(~wall_flat)
    for heading, (dy, dx) in enumerate(DIRECTIONS):
        step = dy * width + dx
        current = free.copy()
        alive = np.ones(free.size, dtype=bool)
        for _ in range(max_range):
            current = current + step
            alive &= ~wall_flat[current]
            table[free[alive], current[alive]] = heading + 1
    return table
