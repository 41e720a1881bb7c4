"""The grid-world experiment (SPEC.md §2, §5): alternate soft-Q learning of every task
with distillation of pi_0 (Distral), or soft-Q per task with a fixed uniform prior (separate).

All 4 tasks act in lock-step, one agent (one episode at a time) per task, on the shared
two-room map (`distral_repro.envs.gridworld.two_room_map`), stepped here as NumPy arrays.
Each round: every task acts n = 10 steps with its current soft policy (eq. 2), then its
Q table takes one step towards the n-step soft targets (regularisation terms included);
then, for Distral, pi_0 is distilled (eq. 5) from the tasks' discounted visitation.

The state of a task is (location, previous action, previous reward), as in the paper:
previous action "none" at an episode's start, previous reward as the flag "was positive".
The goal ends the episode, so in this map the reward flag is 0 in every state that is
acted in; it is kept so that the table has the paper's state.

Visitation for eq. 5 is estimated from the rollouts: every visit of state s at time t
of an episode adds gamma^t pi_i(.|s) to task i's table (the expected action counts given
the visited state, which keeps pi_0 positive wherever pi_i is), and the table decays by
`visitation_decay` each round so that pi_0 follows the current policies, not old ones.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from distral_repro.envs.gridworld import COMPASS_NAMES, EPISODE_LENGTH, GOAL_REWARD, NUM_ACTIONS, NUM_TASKS, two_room_map
from distral_repro.tabular.softq import (
    check_soft_q_settings,
    distil_prior,
    nstep_soft_targets,
    regulariser,
    soft_policy_log,
    soft_q_update,
    soft_value,
)

METHODS = ("distral", "separate")
PRESET_EPISODES = {"smoke": 100, "default": 1000, "paper": 1000}
NO_ACTION = NUM_ACTIONS  # the "previous action" at the start of an episode
NUM_PREVIOUS_ACTIONS = NUM_ACTIONS + 1
NUM_REWARD_FLAGS = 2


@dataclass(frozen=True)
class TabularConfig:
    """Every setting of one grid-world run (the paper's values by default)."""

    method: str = "distral"
    """distral: KL to a distilled pi_0 (alpha = 1, KL only); separate: KL to a fixed uniform prior."""
    episodes: int = 1000
    """episodes per task."""
    beta: float = 5.0
    """inverse temperature (1 / regularisation cost)."""
    gamma: float = 0.95
    learning_rate: float = 0.1
    """step size of the tabular soft-Q update."""
    alpha: float = 1.0
    """KL weight; 1 = KL only. For `separate` the prior is uniform and never changes."""
    n_steps: int = 10
    """rollout length between updates (n-step targets)."""
    max_episode_steps: int = EPISODE_LENGTH
    goal_reward: float = GOAL_REWARD
    visitation_decay: float = 0.9
    """factor applied to the visitation estimate each round (memory of about 1/(1-decay) rounds)."""

    def validated(self) -> "TabularConfig":
        """Self, or a ValueError naming the setting and its valid values."""
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; valid: {', '.join(METHODS)}")
        check_soft_q_settings(self.alpha, self.beta, self.gamma, self.n_steps)
        for name in ("episodes", "max_episode_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not 0.0 < self.learning_rate <= 1.0:
            raise ValueError(f"learning_rate must be in (0, 1], got {self.learning_rate!r}")
        if not 0.0 <= self.visitation_decay < 1.0:
            raise ValueError(f"visitation_decay must be in [0, 1), got {self.visitation_decay!r}")
        if not np.isfinite(self.goal_reward) or self.goal_reward <= 0:
            raise ValueError(f"goal_reward must be a finite number > 0, got {self.goal_reward!r}")
        return self


def preset_config(method: str, preset: str = "default", **overrides) -> TabularConfig:
    """The config of a preset (smoke: 100 episodes; default, paper: 1000) plus overrides."""
    if preset not in PRESET_EPISODES:
        raise ValueError(f"unknown preset {preset!r}; valid: {', '.join(PRESET_EPISODES)}")
    fields = {f.name for f in dataclasses.fields(TabularConfig)}
    unknown = set(overrides) - fields
    if unknown:
        raise ValueError(f"unknown setting(s) {sorted(unknown)}; valid: {', '.join(sorted(fields))}")
    settings = {"episodes": PRESET_EPISODES[preset], **overrides}
    return TabularConfig(method=method, **settings).validated()


def encode_state(location: np.ndarray, previous_action: np.ndarray, previous_reward_flag: np.ndarray) -> np.ndarray:
    """State index of (location, previous action in 0..A with A = none, reward flag 0/1)."""
    return (location * NUM_PREVIOUS_ACTIONS + previous_action) * NUM_REWARD_FLAGS + previous_reward_flag


def num_states(num_locations: int) -> int:
    return num_locations * NUM_PREVIOUS_ACTIONS * NUM_REWARD_FLAGS


@dataclass
class TabularResult:
    """What a run produced.

    episode, task, episode_return, episode_length, reached_goal: one entry per finished
        episode (episode = its index within its task), parallel (E,) arrays ordered by
        episode then task; E = episodes x 4.
    prior: (S, A) the final pi_0 (uniform for `separate`).
    q: (T, S, A) the final soft Q tables.
    """

    config: TabularConfig
    seed: int
    episode: np.ndarray
    task: np.ndarray
    episode_return: np.ndarray
    episode_length: np.ndarray
    reached_goal: np.ndarray
    prior: np.ndarray
    q: np.ndarray
    wall_time_s: float


def sample_actions(log_policy: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Inverse-CDF sampling: (B, A) log-probabilities, (B,) uniforms in [0, 1) -> (B,) actions."""
    cumulative = np.cumsum(np.exp(log_policy), axis=1)
    actions = (cumulative < uniforms[:, None] * cumulative[:, -1:]).sum(axis=1)
    return np.minimum(actions, log_policy.shape[1] - 1)


@dataclass
class Segment:
    """One rollout segment: K steps of the T tasks, (K, T) arrays; `policy` is (K, T, A).

    `live` marks the steps of tasks that have not yet finished their episodes (only
    those learn); `discount` is gamma^t for the time t within the episode.
    """

    state: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    regulariser: np.ndarray
    next_value: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    live: np.ndarray
    discount: np.ndarray
    policy: np.ndarray

    @classmethod
    def empty(cls, steps: int, tasks: int, actions: int) -> "Segment":
        def zeros(dtype=np.float64):
            return np.zeros((steps, tasks), dtype=dtype)

        return cls(
            state=zeros(np.int64), action=zeros(np.int64), reward=zeros(), regulariser=zeros(),
            next_value=zeros(), terminated=zeros(bool), truncated=zeros(bool), live=zeros(bool),
            discount=zeros(), policy=np.zeros((steps, tasks, actions)),
        )


def learn_soft_q(q: np.ndarray, segment: Segment, gamma: float, learning_rate: float) -> None:
    """Move every live visited Q_i(s, a) towards its n-step soft target, in place. q: (T, S, A)."""
    targets = nstep_soft_targets(
        segment.reward, segment.regulariser, segment.next_value, segment.terminated, segment.truncated, gamma
    )
    live = segment.live
    task = np.broadcast_to(np.arange(q.shape[0]), live.shape)
    soft_q_update(q, (task[live], segment.state[live], segment.action[live]), targets[live], learning_rate)


def accumulate_visitation(visitation: np.ndarray, segment: Segment, decay: float) -> None:
    """Decay the (T, S, A) visitation estimate, then add gamma^t pi_i(.|s_t) per live visit, in place."""
    visitation *= decay
    task = np.broadcast_to(np.arange(visitation.shape[0]), segment.live.shape)
    weights = (segment.discount * segment.live)[..., None] * segment.policy
    np.add.at(visitation, (task, segment.state), weights)


class EpisodeLog:
    """The finished episodes of every task, as parallel lists (see TabularResult)."""

    def __init__(self):
        self.episode, self.task, self.episode_return, self.episode_length, self.reached_goal = [], [], [], [], []

    def add(self, episode: int, task: int, episode_return: float, length: int, reached_goal: bool) -> None:
        self.episode.append(episode)
        self.task.append(task)
        self.episode_return.append(episode_return)
        self.episode_length.append(length)
        self.reached_goal.append(reached_goal)

    def arrays(self) -> dict[str, np.ndarray]:
        """Ordered by episode, then task."""
        order = np.lexsort((np.array(self.task), np.array(self.episode)))
        return {
            "episode": np.array(self.episode, dtype=np.int64)[order],
            "task": np.array(self.task, dtype=np.int64)[order],
            "episode_return": np.array(self.episode_return, dtype=np.float64)[order],
            "episode_length": np.array(self.episode_length, dtype=np.int64)[order],
            "reached_goal": np.array(self.reached_goal, dtype=bool)[order],
        }


def run_experiment(config: TabularConfig, seed: int) -> TabularResult:
    """Train all 4 tasks until each has finished `config.episodes` episodes."""
    config.validated()
    start_time = time.perf_counter()
    rng = np.random.default_rng(seed)
    grid = two_room_map()
    tasks = np.arange(NUM_TASKS)
    states = num_states(grid.num_locations)
    alpha, beta, gamma = config.alpha, config.beta, config.gamma

    q = np.zeros((NUM_TASKS, states, NUM_ACTIONS))
    log_prior = np.full((states, NUM_ACTIONS), -np.log(NUM_ACTIONS))  # separate: stays uniform
    visitation = np.zeros((NUM_TASKS, states, NUM_ACTIONS))

    # Where each task's agent is: its location, previous action and reward flag, time in episode.
    location = grid.start_location.copy()
    previous_action = np.full(NUM_TASKS, NO_ACTION)
    previous_flag = np.zeros(NUM_TASKS, dtype=np.int64)
    elapsed = np.zeros(NUM_TASKS, dtype=np.int64)
    episode_return = np.zeros(NUM_TASKS)
    finished = np.zeros(NUM_TASKS, dtype=np.int64)  # episodes finished per task
    log = EpisodeLog()
    segment = Segment.empty(config.n_steps, NUM_TASKS, NUM_ACTIONS)

    while (finished < config.episodes).any():
        # Act n steps with the current tables (eq. 2); tables change only between segments.
        for k in range(config.n_steps):
            state = encode_state(location, previous_action, previous_flag)
            log_policy = soft_policy_log(q[tasks, state], log_prior[state], alpha, beta)  # (T, A)
            action = sample_actions(log_policy, rng.random(NUM_TASKS))
            location = grid.next_location[location, action]
            terminated = location == grid.goal_location
            reward = np.where(terminated, config.goal_reward, 0.0)
            truncated = (elapsed + 1 >= config.max_episode_steps) & ~terminated
            next_state = encode_state(location, action, (reward > 0).astype(np.int64))

            segment.state[k], segment.action[k], segment.reward[k] = state, action, reward
            segment.regulariser[k] = regulariser(log_prior[state, action], log_policy[tasks, action], alpha, beta)
            if k == config.n_steps - 1 or truncated.any():  # V(s') is only used where the target is cut
                segment.next_value[k] = soft_value(q[tasks, next_state], log_prior[next_state], alpha, beta)
            segment.terminated[k], segment.truncated[k] = terminated, truncated
            segment.live[k] = finished < config.episodes  # tasks done with their episodes stop learning
            segment.discount[k] = gamma**elapsed
            segment.policy[k] = np.exp(log_policy)

            elapsed += 1
            episode_return += reward
            previous_action, previous_flag = action, (reward > 0).astype(np.int64)
            ended = terminated | truncated
            if ended.any():
                for t in np.flatnonzero(ended & (finished < config.episodes)):
                    log.add(int(finished[t]), int(t), float(episode_return[t]), int(elapsed[t]), bool(terminated[t]))
                finished += ended
                location = np.where(ended, grid.start_location, location)
                previous_action = np.where(ended, NO_ACTION, previous_action)
                previous_flag = np.where(ended, 0, previous_flag)
                elapsed = np.where(ended, 0, elapsed)
                episode_return = np.where(ended, 0.0, episode_return)

        learn_soft_q(q, segment, gamma, config.learning_rate)
        if config.method == "distral":
            accumulate_visitation(visitation, segment, config.visitation_decay)
            log_prior = np.log(distil_prior(visitation))  # eq. 5

    return TabularResult(
        config=config,
        seed=int(seed),
        **log.arrays(),
        prior=np.exp(log_prior),
        q=q,
        wall_time_s=time.perf_counter() - start_time,
    )


def prior_table(prior: np.ndarray) -> dict:
    """pi_0 as JSON-able nested lists, indexed [location][previous action][action].

    Only the reward flag 0 is kept (the only one ever acted in: the goal ends episodes).
    """
    grid = two_room_map()
    table = prior.reshape(grid.num_locations, NUM_PREVIOUS_ACTIONS, NUM_REWARD_FLAGS, NUM_ACTIONS)[:, :, 0, :]
    return {
        "locations": grid.cells.tolist(),
        "previous_actions": list(COMPASS_NAMES) + ["none"],
        "actions": list(COMPASS_NAMES),
        "probabilities": np.round(table, 6).tolist(),
    }


def episodes_to_solve(reached_goal: np.ndarray, streak: int = 10) -> int | None:
    """Episodes a task needed to be solved: the count at the end of the first `streak`
    consecutive goal-reaching episodes (e.g. 10 for successes in episodes 1..10), or
    None if that never happened.

    Args:
        reached_goal: (E,) bool, one task's episodes in order.
    """
    run = 0
    for index, reached in enumerate(np.asarray(reached_goal, dtype=bool)):
        run = run + 1 if reached else 0
        if run == streak:
            return index + 1
    return None
