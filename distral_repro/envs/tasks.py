"""What makes a task (TaskParams) and a resolved family (FamilyConfig) of the grid engine."""

from __future__ import annotations

from dataclasses import dataclass

from distral_repro.envs.mazes import MazeSpec

@dataclass(frozen=True)
class TaskParams:
    """Everything that makes one task of a family what it is (raw, unscaled rewards)."""

    name: str
    maze: MazeSpec
    num_apples: int = 0
    apples_random: bool = False  # drawn anew each episode (else fixed per task)
    apple_reward: float = 1.0
    goal: bool = False
    goal_random: bool = False  # drawn anew each episode (else fixed per task)
    goal_reward: float = 10.0
    regrow_on_goal: bool = True  # apples come back when the goal is reached
    regrow_when_empty: bool = False  # apples come back once all are collected
    slip: float = 0.0  # probability that the action is replaced by a random one
    num_bots: int = 0
    bot_chase: float = 0.0  # probability a bot steps towards the agent (else at random)
    bot_fire: float = 0.0  # probability a bot fires when the agent is in its line of sight
    bot_range: int = 0  # bots' laser range in cells
    tag_reward: float = 1.0  # tagging a bot
    tagged_reward: float = 0.0  # being tagged
    spawn_fraction: float = 0.3  # share of free cells used as spawn points


@dataclass(frozen=True)
class FamilyConfig:
    """A resolved family: its tasks and the settings of the preset."""

    family: str
    tasks: tuple[TaskParams, ...]
    episode_length: int
    reward_scale: float
    channels: tuple[int, ...]  # the cell types shown as one-hot channels
    num_actions: int
    laser_range: int = 0  # the agent's laser range (laser tag)
    view: str = "window"  # what the agent observes: the one-hot window or first-person pixels (raycast.VIEWS)
    image_size: int = 32  # side of the first-person frame in pixels
