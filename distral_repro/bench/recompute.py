"""`python -m distral_repro.bench recompute`: what the learner saves by not recomputing the unroll.

Today's learner (``learner.Learner``) acts ``T`` steps keeping the LSTM recurrence's graph and
runs only the layers batched over time again in the loss (docs/batching.md). Two other forms
train side by side with it here (alternating updates, CPU time, one thread):

* ``recompute``: the learner before issue 25 (the reference): act without gradients, then
  recompute the whole unroll with gradients. Same bytes as today.
* ``keep-graph``: act with gradients kept for the whole forward pass, step by step, and take
  the loss of those outputs: no recomputation at all. The forward values are the same bytes,
  the gradients are not: a weight's gradient is then a sum of ``T`` per-step matrix products
  instead of one product over all ``T`` steps, which rounds differently.

Reported per algorithm and form: CPU-seconds per update of the form and of today's learner,
today's speed-up over the form (the median and range over blocks of updates), and whether
parameters and curves stayed the same bytes.
"""

from __future__ import annotations

import argparse
import statistics
import sys

import torch

from distral_repro import objective
from distral_repro.bench.envs import _pin_to_one_core
from distral_repro.bench.seeds import alternate, block_ratios, same_bytes
from distral_repro.learner import ROW_STATE, Learner, task_policy_logits


def _descend(learner: Learner, losses: objective.ActorCriticLosses, backward) -> objective.ActorCriticLosses:
    """Learner._learn's optimiser step after `backward()` has filled the gradients."""
    if not torch.isfinite(losses.total):
        return losses
    learner.optimizer.zero_grad()
    backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(learner.net.parameters(), learner.config.hyper.max_grad_norm)
    if torch.isfinite(grad_norm):
        learner.optimizer.step()
    return losses._replace(total=losses.total.detach() if torch.isfinite(grad_norm) else grad_norm.detach())


def _loss(learner: Learner, batch: dict, logits: dict, values) -> objective.ActorCriticLosses:
    hyper = learner.config.hyper
    task_logits, pi0_logits = task_policy_logits(learner.algo, logits)
    return objective.actor_critic_loss(
        task_logits[:-1], batch["action"], batch["reward"], batch["done"], values[:-1], values[-1],
        gamma=hyper.gamma, alpha=learner.algo.alpha, beta=learner.config.beta,
        pi0_logits=None if pi0_logits is None else pi0_logits[:-1], value_cost=hyper.value_cost,
        entropy_form=hyper.entropy_form,
    )


class KeepGraphLearner(Learner):
    """Acts with gradients kept (the whole forward pass, step by step); the loss reuses it."""

    def _act(self):
        record = {k: [] for k in (*ROW_STATE, "action", "reward", "done")}
        self._outputs = []
        chain = dict(self.lstm)

        def forward():
            logits, values, state = self.net.unroll(
                self.obs[None], self.prev_action[None], self.prev_reward[None], self.starts[None], chain)
            chain.update(state)
            self._outputs.append((logits, values))
            return logits

        for _ in range(self.config.budget.unroll):
            self._record_state(record)
            logits = forward()
            self.lstm = {name: (h.detach(), c.detach()) for name, (h, c) in chain.items()}
            with torch.no_grad():
                self._env_step(logits, record)
        self._record_state(record)
        forward()  # step T: the bootstrap value
        return {k: torch.stack(v) for k, v in record.items()}

    def _learn(self, batch, start_state):
        logits = {name: torch.cat([out[0][name] for out in self._outputs]) for name in self._outputs[0][0]}
        values = torch.cat([out[1] for out in self._outputs])
        losses = _loss(self, batch, logits, values)
        self._outputs = None
        return _descend(self, losses, losses.total.backward)


class RecomputeLearner(Learner):
    """The learner before issue 25: acts without gradients, then recomputes the whole unroll."""

    def _act(self):
        acting = ("f",) if self.algo.parameterisation == "one_column" else None
        record = {k: [] for k in (*ROW_STATE, "action", "reward", "done")}
        with torch.no_grad():
            for _ in range(self.config.budget.unroll):
                self._record_state(record)
                logits, _, state = self.net.unroll(
                    self.obs[None], self.prev_action[None], self.prev_reward[None], self.starts[None], self.lstm,
                    columns=acting,
                )
                self.lstm = {**self.lstm, **state}
                self._env_step(logits, record)
        self._record_state(record)
        return {k: torch.stack(v) for k, v in record.items()}

    def _learn(self, batch, start_state):
        steps = batch["action"].shape[0]
        logits, values, after = self.net.unroll(
            batch["obs"], batch["prev_action"], batch["prev_reward"], batch["starts"], start_state, state_after=steps
        )
        if self.algo.parameterisation == "one_column":
            self.lstm["h"] = tuple(x.detach() for x in after["h"])
        losses = _loss(self, batch, logits, values)
        return _descend(self, losses, losses.total.backward)


VARIANTS = {"recompute": RecomputeLearner, "keep-graph": KeepGraphLearner}


def measure(algo: str, env: str, variant: str, updates: int, blocks: int, preset: str, view: str) -> dict:
    from distral_repro.config import make_run_config

    config = make_run_config(algo, env, 3000, 4e-3, 0, preset, view=view)
    other, today = VARIANTS[variant](config), Learner(config)
    rounds = min(updates, today.total_updates - 1)
    alternate(other.train_update, today.train_update, 1)
    before, after = alternate(other.train_update, today.train_update, rounds)
    ratios = block_ratios(before, after, blocks)
    return {"algo": algo, "env": env, "view": view, "variant": variant, "updates": rounds,
            "updates_per_run": today.total_updates,
            "cpu_s_per_update_variant": sum(before) / rounds, "cpu_s_per_update_today": sum(after) / rounds,
            "speedup_median": statistics.median(ratios), "speedup_min": min(ratios), "speedup_max": max(ratios),
            "same_bytes": same_bytes([other], [today])}


def main(argv: list[str] | None = None) -> int:
    from distral_repro.config import ALGORITHMS, ENVIRONMENTS
    from distral_repro.envs import PRESET_NAMES

    parser = argparse.ArgumentParser(prog="python -m distral_repro.bench recompute", description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", default=list(ALGORITHMS), choices=list(ALGORITHMS))
    parser.add_argument("--env", default="maze", choices=list(ENVIRONMENTS))
    parser.add_argument("--preset", default="default", choices=PRESET_NAMES)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--updates", type=int, default=40)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--view", default="window", choices=("window", "first_person"))
    parser.add_argument("--json", help="also write the measurements to this JSON file")
    args = parser.parse_args(argv)
    if args.updates < 2 or not 1 <= args.blocks <= args.updates:
        parser.error("--updates must be >= 2 and --blocks between 1 and --updates")
    _pin_to_one_core()
    torch.set_num_threads(1)
    rows = []
    print(f"{'algorithm':<14} {'form':<10} {'ms/upd form':>11} {'today':>7} {'speed-up':>8} {'(min..max)':>12} {'same bytes':>10}")
    for algo in args.algos:
        for variant in args.variants:
            r = measure(algo, args.env, variant, args.updates, args.blocks, args.preset, args.view)
            rows.append(r)
            print(f"{algo:<14} {variant:<10} {r['cpu_s_per_update_variant'] * 1e3:>11.1f} "
                  f"{r['cpu_s_per_update_today'] * 1e3:>7.1f} {r['speedup_median']:>8.2f} "
                  f"{r['speedup_min']:>5.2f}..{r['speedup_max']:<5.2f} {str(r['same_bytes']):>10}", flush=True)
    if args.json:
        from distral_repro.runio import atomic_write_json

        atomic_write_json(args.json, {"env": args.env, "preset": args.preset, "view": args.view, "results": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
