"""The vocabulary of the grid tasks: cell types, the egocentric window, actions, headings.

Coordinates. Maps are padded by `VIEW_SIZE - 1` wall cells on every side so that the
view never leaves the array; a cell is a flat index `y * width + x` into the padded
map. Headings are 0 = north, 1 = east, 2 = south, 3 = west (clockwise).
"""

from __future__ import annotations

import numpy as np

# ----------------------------------------------------------------------------- cells

EMPTY, WALL, APPLE, GOAL, BOT = 0, 1, 2, 3, 4
CELL_NAMES = {EMPTY: "empty", WALL: "wall", APPLE: "apple", GOAL: "goal", BOT: "bot"}

VIEW_SIZE = 5  # the egocentric window is VIEW_SIZE x VIEW_SIZE, agent at the bottom centre
PAD = VIEW_SIZE - 1

# ----------------------------------------------------------------------------- actions

# DM Lab's discrete set, one grid cell or one quarter turn per step.
ACTION_NAMES = ("forward", "backward", "strafe_left", "strafe_right", "turn_left", "turn_right")
FIRE_ACTION_NAMES = ACTION_NAMES + ("fire",)
FORWARD, BACKWARD, STRAFE_LEFT, STRAFE_RIGHT, TURN_LEFT, TURN_RIGHT, FIRE = range(7)
# Movement direction of each action relative to the heading (clockwise quarter turns), -1: none.
RELATIVE_MOVE = np.array([0, 2, 3, 1, -1, -1, -1])
TURN_DELTA = np.array([0, 0, 0, 0, -1, 1, 0])
# The action that moves in relative direction r (0 ahead, 1 right, 2 behind, 3 left).
MOVE_ACTION_FOR_RELATIVE = np.array([FORWARD, STRAFE_RIGHT, BACKWARD, STRAFE_LEFT])

DIRECTIONS = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]])  # (dy, dx) for N, E, S, W


def describe_actions(num_actions: int) -> str:
    """'0=forward, 1=backward, ...' for error messages."""
    return ", ".join(f"{i}={name}" for i, name in enumerate(FIRE_ACTION_NAMES[:num_actions]))
