"""Several seeds of one setting trained in one process, each as if it ran alone (docs/batching.md).

:class:`SeedBatch` steps ``S`` one-seed :class:`distral_repro.learner.Learner` objects of the
same (algorithm, environment, beta, lr, budget) in lock-step. Their networks are stacked
along the column axis that every weight already has (``[K, ...]`` -> ``[S*K, ...]``), so each
layer is one batched matmul for all seeds instead of one per seed: a training job of the
default study spends most of its time in torch's per-operation overhead, which this shares.
Everything a seed owns stays its own: its environment (stepped on its own), its action
generator, its loss (its own mean over its own rows), its gradient clipping and its
divergence. Every batched operation works on each seed's rows or columns apart (batched
matmuls, elementwise operations), so each seed's numbers are the bytes of its one-seed run
(``tests/test_seedbatch.py``).

Measured by ``python -m distral_repro.bench seeds``; not used by ``train``: it saves too little
per run to pay for a multi-run job in the workflow (docs/batching.md). Its update recomputes the
unroll as the learner did before issue 25 (the learner now keeps the acting recurrence's graph;
both give the same bytes).

The learners stay the owners of all state that is not a stacked tensor (update counter,
statistics, curves, status). :meth:`SeedBatch.sync` writes the stacked tensors back into
them, after which each learner's ``state_dict()``, pi_0 evaluation and summary are exactly
the one-seed learner's. A seed that diverges leaves the batch; the others go on unchanged.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils import get_total_norm

from distral_repro import objective
from distral_repro.learner import ROW_STATE, Learner, final_observations, task_policy_logits
from distral_repro.optim import RMSProp


def check_batchable(learners: list[Learner]) -> None:
    """Raise ValueError unless the learners differ in their seed only, have the window torso and
    stand at the same update."""
    if not learners:
        raise ValueError("a seed batch needs at least one learner")
    first = learners[0].config.to_dict()
    first.pop("seed")
    for learner in learners[1:]:
        other = learner.config.to_dict()
        seed = other.pop("seed")
        if other != first:
            raise ValueError(f"seed {seed}'s run differs from seed {learners[0].config.seed}'s in more than its seed")
    seeds = [learner.config.seed for learner in learners]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"a seed batch needs distinct seeds, got {seeds}")
    if any(column.pixels for column in learners[0].net.columns().values()):
        # measured: the grouped convolutions' weight gradients (oneDNN) round differently with
        # S*K groups than with K, so a seed would not keep its one-seed bytes (docs/batching.md)
        raise ValueError("first-person frames (the pixel torso) cannot be batched over seeds with the same bytes")
    updates = {learner.update for learner in learners}
    if len(updates) != 1:
        raise ValueError(f"the learners of a seed batch must stand at the same update, got {sorted(updates)}")


def _stack_columns(parts: list[Tensor]) -> Tensor:
    return torch.cat([p.detach() for p in parts], dim=0)


class SeedBatch:
    """Trains the running learners of `learners` together (see the module docstring).

    Args:
        learners: one-seed learners of one setting, at the same update (fresh or resumed).
    """

    def __init__(self, learners: list[Learner]):
        check_batchable(learners)
        self.learners = list(learners)
        self.live: list[Learner] = []
        self._stack()

    # ------------------------------------------------------------------ stacking

    def _stack(self) -> None:
        """Build the stacked network, optimiser and acting state from the running learners."""
        self.live = [learner for learner in self.learners if not learner.done]
        if not self.live:
            return
        first = self.live[0]
        seeds = len(self.live)
        self.config, self.algo = first.config, first.algo
        self.rows = first.num_envs  # environments per seed
        net = copy.deepcopy(first.net)
        for column in net.columns().values():
            column.num_columns *= seeds
        net.num_tasks *= seeds
        per_seed = [dict(learner.net.named_parameters()) for learner in self.live]
        for name, _ in list(net.named_parameters()):
            module_name, leaf = name.rsplit(".", 1)
            setattr(net.get_submodule(module_name), leaf, nn.Parameter(_stack_columns([p[name] for p in per_seed])))
        self.net = net
        self.params = list(net.parameters())
        hyper = self.config.hyper
        self.optimizer = RMSProp(
            self.params, lr=self.config.lr, alpha=hyper.rmsprop_alpha, eps=hyper.rmsprop_eps,
            square_start=hyper.rmsprop_square_start, warmup=hyper.lr_warmup,
        )
        states = [learner.optimizer.state_dict() for learner in self.live]
        stacked = dict(states[0])
        stacked["square_avg"] = [_stack_columns(parts) for parts in zip(*(s["square_avg"] for s in states))]
        self.optimizer.load_state_dict(stacked)
        for key in ROW_STATE:
            setattr(self, key, torch.cat([getattr(learner, key) for learner in self.live]))
        self.lstm = {
            name: tuple(_stack_columns([learner.lstm[name][i] for learner in self.live]) for i in range(2))
            for name in first.lstm
        }
        # Each parameter's seed s owns columns [s*k, (s+1)*k) of its first axis.
        self.param_columns = [p.shape[0] // seeds for p in self.params]

    def _seed_rows(self, index: int) -> slice:
        return slice(index * self.rows, (index + 1) * self.rows)

    def sync(self) -> None:
        """Write the stacked tensors back into the running learners (each then holds its one-seed state)."""
        for index, learner in enumerate(self.live):
            self._sync_one(index, learner)

    def _sync_one(self, index: int, learner: Learner) -> None:
        with torch.no_grad():
            for mine, stacked, k in zip(learner.net.parameters(), self.params, self.param_columns):
                mine.copy_(stacked[index * k:(index + 1) * k])
            for mine, stacked, k in zip(learner.optimizer.square_avg, self.optimizer.square_avg, self.param_columns):
                mine.copy_(stacked[index * k:(index + 1) * k])
        learner.optimizer.steps = self.optimizer.steps
        learner.optimizer.started = list(self.optimizer.started)
        rows = self._seed_rows(index)
        for key in ROW_STATE:
            setattr(learner, key, getattr(self, key)[rows].clone())
        learner.lstm = {}
        for name, (h, c) in self.lstm.items():
            k = h.shape[0] // len(self.live)
            learner.lstm[name] = (h[index * k:(index + 1) * k].clone(), c[index * k:(index + 1) * k].clone())

    # ------------------------------------------------------------------ acting

    def _act(self) -> dict[str, Tensor]:
        """Step every seed's environments ``T`` times without gradients (Learner._act for all seeds)."""
        unroll = self.config.budget.unroll
        acting = ("f",) if self.algo.parameterisation == "one_column" else None
        record = {k: [] for k in (*ROW_STATE, "action", "reward", "done")}
        with torch.no_grad():
            for _ in range(unroll):
                for key in ROW_STATE:
                    record[key].append(getattr(self, key))
                logits, _, state = self.net.unroll(
                    self.obs[None], self.prev_action[None], self.prev_reward[None], self.starts[None], self.lstm,
                    columns=acting,
                )
                self.lstm = {**self.lstm, **state}
                task_logits, _ = task_policy_logits(self.algo, logits)
                action = self._sample(task_logits[0])
                steps = [learner.env.step(action[self._seed_rows(i)].numpy()) for i, learner in enumerate(self.live)]
                for learner, (_, _, _, _, info) in zip(self.live, steps):
                    learner._count_episodes(info)
                obs = np.concatenate([s[0] for s in steps])
                reward_t = torch.from_numpy(np.concatenate([np.asarray(s[1], dtype=np.float32) for s in steps]))
                ended_t = torch.from_numpy(np.concatenate([np.logical_or(s[2], s[3]) for s in steps]))
                record["action"].append(action)
                record["reward"].append(self._bootstrapped_reward(reward_t, action, steps))
                record["done"].append(ended_t)
                self.obs = torch.from_numpy(obs)
                self.prev_action = torch.where(ended_t, 0, action)
                self.prev_reward = torch.where(ended_t, 0.0, reward_t)
                self.starts = ended_t
        for key in ROW_STATE:
            record[key].append(getattr(self, key))
        return {k: torch.stack(v) for k, v in record.items()}

    def _sample(self, logits: Tensor) -> Tensor:
        """learner.sample_actions for every seed, each with its own generator's uniforms."""
        shape = (self.rows, logits.shape[-1])
        uniform = torch.cat([torch.rand(shape, generator=learner.generator) for learner in self.live]).clamp_(min=1e-20)
        return (logits - torch.log(-torch.log(uniform))).argmax(dim=-1)

    def _bootstrapped_reward(self, reward: Tensor, action: Tensor, steps: list) -> Tensor:
        """Learner._bootstrapped_reward for every seed: + gamma V(final obs) where a time limit cut an
        episode, on the seeds that have such a cut (the others' rewards pass unchanged)."""
        cuts = [np.logical_and(s[3], np.logical_not(s[2])) for s in steps]
        if not self.config.hyper.bootstrap_time_limit or not any(cut.any() for cut in cuts):
            return reward
        column = ("f",) if self.algo.has_f else ("h",)
        final_obs = torch.from_numpy(np.concatenate([final_observations(s[0], s[4]) for s in steps]))
        _, value, _ = self.net.unroll(
            final_obs[None], action[None], reward[None], torch.zeros_like(self.starts)[None],
            {name: self.lstm[name] for name in column}, columns=column,
        )
        parts = []
        for index, cut in enumerate(cuts):
            rows = self._seed_rows(index)
            if cut.any():
                # the one-seed learner computes exactly this on its own rows
                parts.append(reward[rows] + self.config.hyper.gamma * value[0][rows] * torch.from_numpy(cut).to(reward.dtype))
            else:
                parts.append(reward[rows])
        return torch.cat(parts)

    # ------------------------------------------------------------------ learning

    def _learn(self, batch: dict[str, Tensor], start_state) -> list[objective.ActorCriticLosses]:
        """Learner._learn for every seed: one stacked recomputation and backward pass, each seed's
        own loss, gradient clipping and RMSProp step."""
        hyper = self.config.hyper
        steps = batch["action"].shape[0]
        logits, values, after = self.net.unroll(
            batch["obs"], batch["prev_action"], batch["prev_reward"], batch["starts"], start_state, state_after=steps
        )
        if self.algo.parameterisation == "one_column":
            self.lstm["h"] = tuple(x.detach() for x in after["h"])
        task_logits, pi0_logits = task_policy_logits(self.algo, logits)
        losses = []
        for index in range(len(self.live)):
            rows = self._seed_rows(index)

            def mine(x: Tensor) -> Tensor:
                return x[:, rows].contiguous()

            losses.append(objective.actor_critic_loss(
                mine(task_logits[:-1]), mine(batch["action"]), mine(batch["reward"]), mine(batch["done"]),
                mine(values[:-1]), values[-1, rows].contiguous(),
                gamma=hyper.gamma, alpha=self.algo.alpha, beta=self.config.beta,
                pi0_logits=None if pi0_logits is None else mine(pi0_logits[:-1]), value_cost=hyper.value_cost,
                entropy_form=hyper.entropy_form,
            ))
        finite = [bool(torch.isfinite(l.total)) for l in losses]
        if not any(finite):
            return losses
        self.optimizer.zero_grad()
        torch.stack([l.total for l, ok in zip(losses, finite) if ok]).sum().backward()
        skipped = []
        for index, ok in enumerate(finite):
            if not ok:
                skipped.append(index)
                continue
            grads = self._seed_slices([p.grad for p in self.params], index)
            grad_norm = get_total_norm(grads, 2.0)
            clip = torch.clamp(hyper.max_grad_norm / (grad_norm + 1e-6), max=1.0)
            torch._foreach_mul_(grads, clip)
            if torch.isfinite(grad_norm):
                losses[index] = losses[index]._replace(total=losses[index].total.detach())
            else:
                losses[index] = losses[index]._replace(total=grad_norm.detach())
                skipped.append(index)
        self._step_except(skipped)
        return losses

    def _seed_slices(self, tensors: list[Tensor], index: int) -> list[Tensor]:
        return [t[index * k:(index + 1) * k] for t, k in zip(tensors, self.param_columns)]

    def _step_except(self, skipped: list[int]) -> None:
        """One RMSProp step of the stacked parameters; the seeds in `skipped` keep their parameters
        and squares (their one-seed learner takes no step on a non-finite loss or gradient)."""
        kept = {i: [t.clone() for t in self._seed_slices(self.params, i) + self._seed_slices(self.optimizer.square_avg, i)]
                for i in skipped}
        self._started_before = list(self.optimizer.started)
        self.optimizer.step()
        with torch.no_grad():
            for index, saved in kept.items():
                for target, value in zip(self._seed_slices(self.params, index) + self._seed_slices(self.optimizer.square_avg, index), saved):
                    target.copy_(value)
        self._skipped = set(skipped)

    # ------------------------------------------------------------------ the update

    def train_update(self) -> list[Learner]:
        """One update of every running seed. Returns the learners that reached an evaluation point
        (or ended) in it; their state is synced. A seed that diverged has left the batch."""
        start = {name: (h.detach(), c.detach()) for name, (h, c) in self.lstm.items()}
        batch = self._act()
        self._skipped = set()
        losses = self._learn(batch, start)
        first = self.live[0]
        next_update = first.update + 1
        # pi_0 evaluations and checkpoints read the learners' own networks: sync them first
        synced = (next_update in first.pi0_eval_updates or next_update % first.log_every == 0
                  or next_update == first.total_updates)
        if synced:
            self.sync()
        reached = [learner for learner, loss in zip(self.live, losses) if learner.record_update(loss)]
        diverged = [i for i, learner in enumerate(self.live) if learner.status == "diverged"]
        if diverged:  # the others go on from their own state, restacked without the diverged seeds
            if not synced:
                self.sync()
            for index in diverged:
                if index in self._skipped:  # its one-seed optimiser took no step
                    self.live[index].optimizer.steps -= 1
                    self.live[index].optimizer.started = list(self._started_before)
            self._stack()
        return reached

    @property
    def done(self) -> bool:
        return not self.live
