"""The one batched synchronous actor-critic learner behind all seven algorithms.

A synchronous (A2C) form of A3C: ``W`` workers per task step in lock-step through one
batched environment holding every task of the family; each update acts ``T`` steps, keeping
the graph of the LSTM recurrence, then runs the non-recurrent layers once more with gradients
(batched over time) and takes one RMSProp step on the Distral loss of
:func:`distral_repro.objective.actor_critic_loss`. Which algorithm runs is decided only
by the :class:`distral_repro.config.Algorithm` row (parameterisation x alpha).

The learner's whole state (networks, optimiser, RNG, environment, recurrent state,
statistics) is in :meth:`Learner.state_dict`, so a run resumed from a checkpoint ends
exactly as an uninterrupted one.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from distral_repro import objective
from distral_repro.config import PI0_EVAL_ENVIRONMENTS, RunConfig
from distral_repro.envs.specs import family_specs
from distral_repro.networks import DistralNet, group_by_column
from distral_repro.optim import RMSProp

PROGRESS_COLUMNS = ("step", "task", "episode_return", "episodes", "policy_loss", "value_loss", "distill_loss", "kl", "entropy")
#: pi0_eval.csv: pi_0 alone (episode_return) and the task policies (task_policy_return) on the
#: same evaluation episodes, per task, at each evaluation step.
PI0_EVAL_COLUMNS = ("step", "task", "episode_return", "task_policy_return")
#: The acting state of every environment (one row each) that an unroll records at every step.
ROW_STATE = ("obs", "prev_action", "prev_reward", "starts")
LOSS_NAMES = ("policy_loss", "value_loss", "distill_loss", "kl", "entropy")
#: A finite loss this large also ends the run as diverged. No built-in family pays more than
#: about 11 (raw reward) per step, so with gamma = 0.99 and beta >= 1 (the regulariser adds at
#: most about 120 / beta per step) every return and value lies within about 1.3e4, and a loss
#: stays below about 4e8 (value loss 0.5 (G - V)^2). 1e10 is 25x that (docs/training.md, "Divergence").
LOSS_BOUND = 1e10


def sample_actions(logits: Tensor, generator: torch.Generator) -> Tensor:
    """Sample from softmax(logits) with the Gumbel-max trick. ``[..., A]`` -> ``[...]`` int64."""
    uniform = torch.rand(logits.shape, generator=generator).clamp_(min=1e-20)
    return (logits - torch.log(-torch.log(uniform))).argmax(dim=-1)


def task_policy_logits(algo, logits: dict[str, Tensor]) -> tuple[Tensor, Tensor | None]:
    """Logits of the task policies pi_i and, when pi_0 is distilled, of pi_0 (SPEC §4 table).

    Args:
        algo: a :class:`distral_repro.config.Algorithm`.
        logits: column outputs {"h": [..., A], "f": [..., A]} (those the algorithm has).

    Returns:
        ``(task_logits, pi0_logits)``; ``pi0_logits`` is None when alpha = 0 (no KL term)
        or when h was not run (one-column variants act with f alone).
    """
    p = algo.parameterisation
    if p in ("separate", "one_column"):
        task = logits["f"]
    elif p == "shared":
        task = logits["h"]
    else:  # two_column, eq. 8 (the column outputs beta * f_i directly, see two_column_logits)
        task = objective.two_column_logits(logits["h"], logits["f"], algo.h_coef)
    return task, (logits.get("h") if algo.distils else None)


def divergence(losses: objective.ActorCriticLosses) -> str | None:
    """Why an update's losses mean the run diverged (non-finite, or above LOSS_BOUND), or None."""
    if not torch.isfinite(losses.total):
        return "non-finite loss"
    for name, value in zip(LOSS_NAMES, (losses.policy, losses.value, losses.distill, losses.kl, losses.entropy)):
        if abs(float(value)) > LOSS_BOUND:
            return f"{name} {float(value):.3g} above the bound {LOSS_BOUND:.0e}"
    return None


def final_observations(obs: np.ndarray, info: dict) -> np.ndarray:
    """The observations before an automatic reset: ``info["final_obs"]`` where an episode ended, else `obs`."""
    final_obs = np.asarray(info["final_obs"])
    if final_obs.dtype == object:  # gymnasium's vector envs: one entry per env, None where none ended
        dense = np.array(obs, copy=True)
        for row in np.flatnonzero(info["_final_obs"]):
            dense[row] = final_obs[row]
        final_obs = dense
    return final_obs


@dataclass
class Interval:
    """Statistics gathered between two evaluation points."""

    return_sum: np.ndarray
    episodes: np.ndarray
    losses: dict[str, float] = field(default_factory=lambda: {k: 0.0 for k in LOSS_NAMES})
    updates: int = 0

    @classmethod
    def empty(cls, num_tasks: int) -> "Interval":
        return cls(np.zeros(num_tasks), np.zeros(num_tasks, dtype=np.int64))


class Learner:
    """Trains every task of one environment family with one algorithm.

    Args:
        config: a validated :class:`distral_repro.config.RunConfig`.
    """

    def __init__(self, config: RunConfig):
        self.config = config
        self.algo = config.algorithm
        budget = config.budget
        torch.manual_seed(config.seed)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.family = family_specs({config.env: config.family} if config.family else None)[config.env]
        self.env = self.family.make(budget.workers, seed=config.seed, preset=config.preset, **config.env_settings)
        self.num_tasks = self.env.num_tasks
        self.num_envs = self.env.num_envs
        self.task_ids = np.asarray(self.env.task_ids)
        obs_shape = tuple(self.env.single_observation_space.shape)
        self.num_actions = int(self.env.single_action_space.n)
        hyper = config.hyper
        self.net = DistralNet(
            self.num_tasks, obs_shape, self.num_actions, has_h=self.algo.has_h, has_f=self.algo.has_f,
            hidden=hyper.hidden, conv_channels=hyper.conv_channels, torso=hyper.torso, init=hyper.init,
        )
        self.optimizer = RMSProp(
            self.net.parameters(), lr=config.lr, alpha=hyper.rmsprop_alpha, eps=hyper.rmsprop_eps,
            square_start=hyper.rmsprop_square_start, warmup=hyper.lr_warmup,
        )
        obs, _ = self.env.reset(seed=config.seed)
        n = self.num_envs
        self.obs = torch.from_numpy(obs)
        self.prev_action = torch.zeros(n, dtype=torch.int64)
        self.prev_reward = torch.zeros(n)
        self.starts = torch.ones(n, dtype=torch.bool)
        self.lstm = self.net.initial_state(n)
        self._graph = None  # the acting recurrence's graph, from _act to _learn (not state: rebuilt every update)

        steps_per_update = budget.workers * budget.unroll  # env steps per task per update
        episode_length = self.env.max_episode_steps or 0  # the family's episode cap
        # At least one whole episode per worker, so that every run has a return to report.
        self.total_updates = max(
            1, math.ceil(budget.steps_per_task / steps_per_update), math.ceil(episode_length / budget.unroll)
        )
        # Every evaluation interval must see episodes end: at least one episode per worker.
        self.log_every = max(
            1, round(self.total_updates / budget.log_points), math.ceil(episode_length / budget.unroll)
        )
        # The last interval is a whole one too (else it may end before any episode does and the
        # curve loses its end): the budget rounds up to a multiple of the evaluation interval.
        self.total_updates = math.ceil(self.total_updates / self.log_every) * self.log_every
        self.episode_length = episode_length
        self.steps_per_update = steps_per_update
        self.evaluate_pi0 = self.algo.has_h and config.env in PI0_EVAL_ENVIRONMENTS
        self.pi0_eval_updates = sorted(
            {max(1, round(self.total_updates * (j + 1) / budget.pi0_evals)) for j in range(budget.pi0_evals)}
        ) if self.evaluate_pi0 else []

        self.update = 0
        self.interval = Interval.empty(self.num_tasks)
        self.progress: list[dict] = []
        self.pi0_progress: list[dict] = []
        self.status = "running"
        self.diverged_at_step: int | None = None
        self.diverged_reason: str | None = None
        self.elapsed_s = 0.0  # wall time of earlier segments (before a resume)

    # ------------------------------------------------------------------ properties

    @property
    def steps_per_task(self) -> int:
        """Environment steps taken so far by each task (the x axis of the curves)."""
        return self.update * self.steps_per_update

    @property
    def done(self) -> bool:
        return self.status != "running"

    # ------------------------------------------------------------------ acting

    def _act(self) -> dict[str, Tensor]:
        """Step every environment ``T`` times; returns the unroll's tensors.

        The acting columns' LSTM recurrence keeps its graph (:meth:`_act_step`), which
        :meth:`_learn` reuses instead of running the recurrence again (docs/batching.md).
        """
        unroll = self.config.budget.unroll
        record = {k: [] for k in (*ROW_STATE, "action", "reward", "done")}
        self._graph = {name: ([], []) for name in self._acting_columns()}
        chain = {name: self.lstm[name] for name in self._graph}
        for _ in range(unroll):
            self._record_state(record)
            logits = self._act_step(chain)
            self.lstm = {**self.lstm, **{name: (h.detach(), c.detach()) for name, (h, c) in chain.items()}}
            with torch.no_grad():
                self._env_step(logits, record)
        # The state after the unroll is appended as step T: its value is the bootstrap.
        self._record_state(record)
        self._act_step(chain)
        return {k: torch.stack(v) for k, v in record.items()}

    def _acting_columns(self) -> tuple[str, ...]:
        """The columns that act. One-column variants act with f alone; h's recurrent state is
        then carried on by its recomputation in _learn (state after T steps)."""
        return ("f",) if self.algo.parameterisation == "one_column" else tuple(self.net.columns())

    def _act_step(self, chain: dict[str, tuple[Tensor, Tensor]]) -> dict[str, Tensor]:
        """One step of the acting columns from their states in `chain` (advanced in place).

        The input projection (torso and LSTM input weights) runs without gradients and enters
        the recurrence as a leaf; the recurrence keeps its graph for _learn. Returns the
        columns' logits ``[1, N, A]`` (no graph), the same bytes as ``net.unroll`` on this step.
        """
        n = self.num_envs
        logits = {}
        for name, (leaves, outputs) in self._graph.items():
            col = getattr(self.net, name)
            k, m = col.num_columns, n // col.num_columns
            with torch.no_grad():
                gates = col.encode(self.obs.reshape(k, m, *self.obs.shape[1:]), self.prev_action.reshape(k, m),
                                   self.prev_reward.reshape(k, m))
            gates.requires_grad_()
            keep = (~self.starts).reshape(k, m, 1).to(gates.dtype)
            h, c = chain[name]
            hidden, (_, c) = col.recur(gates, (h * keep, c * keep))
            chain[name] = (hidden, c)
            leaves.append(gates)
            outputs.append(hidden)
            with torch.no_grad():
                logits[name] = col.logits(hidden).reshape(1, n, -1)
        return logits

    def _record_state(self, record: dict[str, list]) -> None:
        for key in ROW_STATE:
            record[key].append(getattr(self, key))

    def _env_step(self, logits: dict[str, Tensor], record: dict[str, list]) -> None:
        """Sample the actions of `logits` (one step's column outputs), step the environments and
        record the step; the acting state moves on to the next observation."""
        task_logits, _ = task_policy_logits(self.algo, logits)
        action = sample_actions(task_logits[0], self.generator)
        obs, reward, terminated, truncated, info = self.env.step(action.numpy())
        ended = np.logical_or(terminated, truncated)
        self._count_episodes(info)
        reward_t = torch.from_numpy(np.asarray(reward, dtype=np.float32))
        ended_t = torch.from_numpy(ended)
        record["action"].append(action)
        record["reward"].append(self._bootstrapped_reward(reward_t, action, terminated, truncated, obs, info))
        record["done"].append(ended_t)
        self.obs = torch.from_numpy(obs)
        self.prev_action = torch.where(ended_t, 0, action)
        self.prev_reward = torch.where(ended_t, 0.0, reward_t)
        self.starts = ended_t

    def _bootstrapped_reward(self, reward: Tensor, action: Tensor, terminated, truncated, obs, info: dict) -> Tensor:
        """The reward the n-step target sees: + gamma * V(final obs) where a time limit cut the
        episode (Hyper.bootstrap_time_limit), so that a cut is not mistaken for a terminal state.

        V comes from the value column run one more step on the final observation, from the
        state after this step (one extra forward pass, only on steps where some episode is cut).
        """
        cut = np.logical_and(truncated, np.logical_not(terminated))
        if not self.config.hyper.bootstrap_time_limit or not cut.any():
            return reward
        column = ("f",) if self.algo.has_f else ("h",)
        final_obs = torch.from_numpy(final_observations(obs, info))
        _, value, _ = self.net.unroll(
            final_obs[None], action[None], reward[None], torch.zeros_like(self.starts)[None],
            {name: self.lstm[name] for name in column}, columns=column,
        )
        return reward + self.config.hyper.gamma * value[0] * torch.from_numpy(cut).to(reward.dtype)

    def _count_episodes(self, info: dict) -> None:
        mask = info.get("_episode_return")
        if mask is None or not np.any(mask):
            return
        rows = np.flatnonzero(mask)
        tasks = self.task_ids[rows]
        np.add.at(self.interval.return_sum, tasks, np.asarray(info["episode_return"])[rows])
        np.add.at(self.interval.episodes, tasks, 1)

    # ------------------------------------------------------------------ learning

    def _learn(self, batch: dict[str, Tensor], start_state) -> objective.ActorCriticLosses:
        """The loss of the unroll and one optimiser step.

        The acting columns' recurrence is the graph kept by _act; the layers batched over time
        (torso and input projection, policy and value heads) run again here with gradients, over
        all ``T + 1`` steps at once. The loss's backward pass ends at the recurrence's leaves,
        whose gradients a second backward pass takes through the input projections: the same
        operations, hence the same bytes, as recomputing the whole unroll.
        """
        hyper = self.config.hyper
        steps = batch["action"].shape[0]
        logits: dict[str, Tensor] = {}
        if self.algo.parameterisation == "one_column":  # h did not act: recompute it, continue from its state
            logits, _, after = self.net.unroll(
                batch["obs"], batch["prev_action"], batch["prev_reward"], batch["starts"], start_state,
                columns=("h",), state_after=steps,
            )
            self.lstm["h"] = tuple(x.detach() for x in after["h"])
        projections, hiddens = {}, {}
        for name, (_, outputs) in self._graph.items():
            k = getattr(self.net, name).num_columns
            projections[name] = getattr(self.net, name).encode(
                *(group_by_column(batch[key], steps + 1, k) for key in ("obs", "prev_action", "prev_reward")))
            hiddens[name] = torch.stack(outputs, dim=1)
        acted, values = self.net.heads(hiddens)
        logits.update(acted)
        task_logits, pi0_logits = task_policy_logits(self.algo, logits)
        losses = objective.actor_critic_loss(
            task_logits[:-1], batch["action"], batch["reward"], batch["done"], values[:-1], values[-1],
            gamma=hyper.gamma, alpha=self.algo.alpha, beta=self.config.beta,
            pi0_logits=None if pi0_logits is None else pi0_logits[:-1], value_cost=hyper.value_cost,
            entropy_form=hyper.entropy_form,
        )
        graph, self._graph = self._graph, None
        if not torch.isfinite(losses.total):
            return losses
        self.optimizer.zero_grad()
        losses.total.backward()
        leaf_grads = []
        for name, projection in projections.items():
            leaves = graph[name][0]
            grads = [leaf.grad if leaf.grad is not None else torch.zeros_like(leaf) for leaf in leaves]
            leaf_grads.append(torch.stack(grads, dim=1).reshape(projection.shape))
        torch.autograd.backward(list(projections.values()), leaf_grads)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.net.parameters(), hyper.max_grad_norm)
        if torch.isfinite(grad_norm):
            self.optimizer.step()
        return losses._replace(total=losses.total.detach() if torch.isfinite(grad_norm) else grad_norm.detach())

    def train_update(self) -> bool:
        """One update (act T steps, learn). Returns True when an evaluation point was reached."""
        start = {name: (h.detach(), c.detach()) for name, (h, c) in self.lstm.items()}
        batch = self._act()
        return self.record_update(self._learn(batch, start))

    def record_update(self, losses: objective.ActorCriticLosses) -> bool:
        """Count the update whose losses these are: divergence, statistics, pi_0 evaluation,
        evaluation point. Returns True when an evaluation point was reached (or the run ended)."""
        self.update += 1
        reason = divergence(losses)
        if reason is not None:
            self.status = "diverged"
            self.diverged_at_step = self.steps_per_task
            self.diverged_reason = reason
            return True
        for name, value in zip(LOSS_NAMES, (losses.policy, losses.value, losses.distill, losses.kl, losses.entropy)):
            self.interval.losses[name] += float(value)
        self.interval.updates += 1
        if self.update in self.pi0_eval_updates:
            self._evaluate_pi0()
        if self.update % self.log_every == 0 or self.update == self.total_updates:
            self._log_point()
            if self.update >= self.total_updates:
                self.status = "ok"
            return True
        return False

    def _log_point(self) -> None:
        interval = self.interval
        updates = max(interval.updates, 1)
        for task in range(self.num_tasks):
            count = int(interval.episodes[task])
            row = {
                "step": self.steps_per_task,
                "task": task,
                "episode_return": interval.return_sum[task] / count if count else math.nan,
                "episodes": count,
            }
            row.update({k: v / updates for k, v in interval.losses.items()})
            self.progress.append(row)
        self.interval = Interval.empty(self.num_tasks)

    # ------------------------------------------------------------------ pi_0 acting alone

    def _evaluate_pi0(self) -> None:
        """Run pi_0 = softmax(h) alone, then the task policies, for one episode per evaluation
        worker on every task: the same episodes (same env seed, so the same maps, starts and
        apples; same action-sampling seed), so that the two returns are measured alike (C6)."""
        index = self.pi0_eval_updates.index(self.update)
        seed = 1_000_003 * (index + 1) + self.config.seed  # fresh episodes, same on resume
        pi0, task_ids = self._evaluation_returns(seed, self._h_step, lambda n: {"h": self.net.h.initial_state(n)})
        task, _ = self._evaluation_returns(seed, self._task_step, self.net.initial_state)
        for t in range(self.num_tasks):
            rows = task_ids == t
            self.pi0_progress.append({"step": self.steps_per_task, "task": t, "episode_return": float(pi0[rows].mean()),
                                      "task_policy_return": float(task[rows].mean())})

    def _evaluation_returns(self, seed: int, step, initial_state) -> tuple[np.ndarray, np.ndarray]:
        """The first episode's return of every evaluation env under ``step`` (a one-step policy:
        inputs, state -> logits, state; ``initial_state(num_envs)`` its zero state), on a fresh
        env seeded with ``seed``; and the envs' tasks."""
        budget = self.config.budget
        env = self.family.make(budget.pi0_eval_workers, seed=seed, preset=self.config.preset, **self.config.env_settings)
        generator = torch.Generator().manual_seed(seed)
        obs, _ = env.reset(seed=seed)
        n = env.num_envs
        obs = torch.from_numpy(obs)
        prev_action = torch.zeros(n, dtype=torch.int64)
        prev_reward = torch.zeros(n)
        starts = torch.ones(n, dtype=torch.bool)
        state = initial_state(n)
        returns = np.full(n, np.nan)
        with torch.no_grad():
            while np.isnan(returns).any():
                logits, state = step(obs, prev_action, prev_reward, starts, state)
                action = sample_actions(logits, generator)
                obs_np, reward, terminated, truncated, info = env.step(action.numpy())
                mask = info.get("_episode_return")
                if mask is not None:
                    first = np.asarray(mask) & np.isnan(returns)
                    returns[first] = np.asarray(info["episode_return"])[first]
                ended = torch.from_numpy(np.logical_or(terminated, truncated))
                reward_t = torch.from_numpy(np.asarray(reward, dtype=np.float32))
                obs = torch.from_numpy(obs_np)
                prev_action = torch.where(ended, 0, action)
                prev_reward = torch.where(ended, 0.0, reward_t)
                starts = ended
        return returns, np.asarray(env.task_ids)

    def _task_step(self, obs, prev_action, prev_reward, starts, state):
        """One step of the task policies pi_i (every column the algorithm has, as when training)."""
        logits, _, new = self.net.unroll(obs[None], prev_action[None], prev_reward[None], starts[None], state)
        task_logits, _ = task_policy_logits(self.algo, logits)
        return task_logits[0], {**state, **new}

    def _h_step(self, obs, prev_action, prev_reward, starts, state):
        """One step of the h column alone: ``[N]``-row inputs -> logits ``[N, A]`` and the new state."""
        col = self.net.h
        gates = col.encode(obs[None], prev_action[None], prev_reward[None])  # [1, N, 4H]
        keep = (~starts).to(gates.dtype)[None, :, None]
        h, c = state["h"]
        hidden, new = col.recur(gates, (h * keep, c * keep))
        return col.logits(hidden)[0], {"h": new}

    # ------------------------------------------------------------------ results

    def returns_by_task(self) -> tuple[dict[int, float], dict[int, float]]:
        """Final (mean over the last 10% of steps) and AUC (mean over the curve) returns per task."""
        final, auc = {}, {}
        if not self.progress:
            return final, auc
        last_step = self.progress[-1]["step"]
        for task in range(self.num_tasks):
            points = [(r["step"], r["episode_return"]) for r in self.progress if r["task"] == task]
            values = np.array([v for _, v in points], dtype=float)
            late = np.array([v for s, v in points if s >= 0.9 * last_step], dtype=float)
            if np.isnan(late).all():
                late = values[-1:]
            auc[task] = float(np.nanmean(values)) if not np.isnan(values).all() else math.nan
            final[task] = float(np.nanmean(late)) if not np.isnan(late).all() else math.nan
        return final, auc

    def pi0_final_by_task(self) -> dict[int, float] | None:
        if not self.pi0_progress:
            return None
        last_step = self.pi0_progress[-1]["step"]
        return {r["task"]: r["episode_return"] for r in self.pi0_progress if r["step"] == last_step}

    # ------------------------------------------------------------------ checkpointing

    def state_dict(self) -> dict:
        """Everything needed to continue exactly where this learner stands."""
        return {
            "config": self.config.to_dict(),
            "net": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "generator": self.generator.get_state(),
            "env": pickle.dumps(self.env),
            "obs": self.obs,
            "prev_action": self.prev_action,
            "prev_reward": self.prev_reward,
            "starts": self.starts,
            "lstm": self.lstm,
            "update": self.update,
            "interval": self.interval,
            "progress": self.progress,
            "pi0_progress": self.pi0_progress,
            "status": self.status,
            "diverged_at_step": self.diverged_at_step,
            "diverged_reason": self.diverged_reason,
            "elapsed_s": self.elapsed_s,
        }

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        self.generator.set_state(state["generator"])
        self.env = pickle.loads(state["env"])
        for key in ("obs", "prev_action", "prev_reward", "starts", "lstm", "update", "interval", "progress",
                    "pi0_progress", "status", "diverged_at_step", "elapsed_s"):
            setattr(self, key, state[key])
        self.diverged_reason = state.get("diverged_reason")

