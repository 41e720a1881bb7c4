"""`python -m distral_repro.bench units`: does the torso stay alive? Live units and output spread.

    python -m distral_repro.bench units --env maze [--env-file FAMILIES.yaml] [--algo A3C]
        [--beta 1000] [--lr 4e-3] [--seed 0] [--steps-per-task N] [--hyper KEY=VALUE ...]
        [--at 0 1 2 3 5 10 20 50] [--label NAME] [--out units.csv]

Trains one run as `distral_repro.train` would (same config, same learner) and, before the
first update, after the updates listed by `--at` and at the end, runs every column on a fixed
probe: `--probe-steps` steps of every environment of the family from a fresh reset, acting
uniformly at random (a probe that does not depend on the policy, so every point looks at the
same observations; the LSTM runs over them from a zero state). Per column it reports:

- `conv_live`, `fc_live`: the fraction of convolution units (channel x position) and of fully
  connected units that are positive on at least one probe observation (a unit that never fires
  passes no gradient: a ReLU that died stays dead);
- `value_std`, `logit_std`: the standard deviation across probe observations of the value and
  of each action's task-policy logit (mean over tasks and actions): near zero, the network
  answers every observation alike (it is blind);
- `entropy`: the task policy's mean entropy on the probe (nats; log A is uniform);
- `return`: the mean episode return over tasks of the last evaluation interval (NaN before one).

Writes a tidy CSV (one row per point and column) and prints it. Pure bookkeeping on top of the
learner: a run with the diagnostic trains exactly as one without it (the probe has its own env
and uses no random numbers of the learner's).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

PROBE_SEED_OFFSET = 1_000_003  # the probe env's seed: the run's seed + this (not a training stream)


def live_fraction(activations):
    """Fraction of units positive on at least one row. ``[K, M, U]`` -> ``[K]`` (per column)."""
    return (activations > 0).any(dim=1).float().mean(dim=-1)


def spread(outputs):
    """Standard deviation across rows, averaged over trailing units. ``[G, M, ...]`` -> ``[G]``.

    With fewer than two rows per group the spread is 0 (nothing to compare).
    """
    if outputs.shape[1] < 2:
        return outputs.new_zeros(outputs.shape[0])
    return outputs.std(dim=1, unbiased=False).reshape(outputs.shape[0], -1).mean(dim=-1)


def collect_probe(learner, steps: int, seed: int) -> dict:
    """`steps` steps of a fresh copy of the learner's family under a uniform random policy.

    Returns ``obs``, ``prev_action``, ``prev_reward``, ``starts`` as ``[steps, N, ...]`` tensors.
    """
    import numpy as np
    import torch

    budget = learner.config.budget
    env = learner.family.make(budget.workers, seed=seed, preset=learner.config.preset)
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    n = env.num_envs
    record = {k: [] for k in ("obs", "prev_action", "prev_reward", "starts")}
    prev_action, prev_reward, starts = np.zeros(n, np.int64), np.zeros(n, np.float32), np.ones(n, bool)
    for _ in range(steps):
        for key, value in (("obs", obs), ("prev_action", prev_action), ("prev_reward", prev_reward), ("starts", starts)):
            record[key].append(torch.from_numpy(np.array(value, copy=True)))
        action = rng.integers(0, learner.num_actions, size=n)
        obs, reward, terminated, truncated, _ = env.step(action)
        ended = np.logical_or(terminated, truncated)
        prev_action = np.where(ended, 0, action)
        prev_reward = np.where(ended, 0.0, np.asarray(reward, np.float32)).astype(np.float32)
        starts = ended
    env.close()
    return {k: torch.stack(v) for k, v in record.items()}


def measure(learner, probe: dict) -> list[dict]:
    """The diagnostic's numbers on `probe`, one dict per column ("f", "h") of the learner's net."""
    import torch

    from distral_repro.learner import task_policy_logits

    net = learner.net
    steps, n = probe["obs"].shape[:2]
    rows = []
    with torch.no_grad():
        logits, values, _ = net.unroll(
            probe["obs"], probe["prev_action"], probe["prev_reward"], probe["starts"], net.initial_state(n)
        )
        task_logits, _ = task_policy_logits(learner.algo, logits)
        tasks = net.num_tasks
        by_task = lambda x: x.reshape(steps, tasks, n // tasks, *x.shape[2:]).transpose(0, 1).reshape(  # noqa: E731
            tasks, steps * (n // tasks), *x.shape[2:])
        value_std = float(spread(by_task(values)).mean())
        logit_std = float(spread(by_task(task_logits)).mean())
        log_probs = torch.log_softmax(task_logits, dim=-1)
        entropy = float(-(log_probs.exp() * log_probs).sum(-1).mean())
        for name, col in net.columns().items():
            k = col.num_columns
            obs = probe["obs"].reshape(steps, k, n // k, *probe["obs"].shape[2:]).transpose(0, 1)
            conv, fc = col.torso(obs.reshape(k, steps * (n // k), *obs.shape[3:]))
            rows.append({
                "column": name,
                "conv_live": float(live_fraction(conv).mean()),
                "conv_live_min": float(live_fraction(conv).min()),
                "fc_live": float(live_fraction(fc).mean()),
                "fc_live_min": float(live_fraction(fc).min()),
                "value_std": value_std,
                "logit_std": logit_std,
                "entropy": entropy,
            })
    return rows


def last_return(learner) -> float:
    """Mean over tasks of the last evaluation interval's mean episode return (NaN if none yet)."""
    if not learner.progress:
        return math.nan
    step = learner.progress[-1]["step"]
    values = [r["episode_return"] for r in learner.progress if r["step"] == step]
    values = [v for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m distral_repro.bench units", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", required=True)
    parser.add_argument("--env-file", help="a YAML file with a 'families:' block (user families)")
    parser.add_argument("--algo", default="A3C")
    parser.add_argument("--beta", default="1000")
    parser.add_argument("--lr", default="4e-3")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--steps-per-task", type=int, help="override the budget's steps per task")
    parser.add_argument("--hyper", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--at", nargs="+", type=int, default=[0, 1, 2, 3, 5, 10, 20, 50],
                        help="measure after these updates (0: before the first), and at the end")
    parser.add_argument("--probe-steps", type=int, default=16, help="steps of every env in the probe")
    parser.add_argument("--label", default="", help="a name for this setting in the CSV")
    parser.add_argument("--out", type=Path, help="write the rows here (CSV)")
    args = parser.parse_args(argv)

    from distral_repro.config import ConfigError, make_run_config

    families = None
    hyper = {}
    try:
        if args.env_file:
            from distral_repro.envs.specs import load_family_file

            families = load_family_file(args.env_file)
        for item in args.hyper:
            key, sep, value = item.partition("=")
            if not sep:
                raise ConfigError(f"--hyper takes KEY=VALUE, got {item!r}")
            hyper[key.strip()] = value.strip()
        if args.probe_steps < 1 or min(args.at) < 0:
            raise ConfigError("--probe-steps must be >= 1 and --at values >= 0")
        config = make_run_config(args.algo, args.env, args.beta, args.lr, args.seed, args.preset, families=families,
                                 hyper_overrides=hyper, steps_per_task=args.steps_per_task)
    except (ConfigError, ValueError, OSError) as error:
        print(f"distral_repro.bench units: error: {error}", file=sys.stderr)
        return 2

    import pandas as pd
    import torch

    from distral_repro.learner import Learner
    from distral_repro.runio import atomic_write_csv

    torch.set_num_threads(1)
    learner = Learner(config)
    probe = collect_probe(learner, args.probe_steps, args.seed + PROBE_SEED_OFFSET)
    points = sorted(set(args.at))
    rows = []

    def record() -> None:
        for row in measure(learner, probe):
            rows.append({"label": args.label, "env": args.env, "algo": args.algo, "seed": args.seed,
                         "lr": config.lr, "update": learner.update, "step": learner.steps_per_task,
                         "return": last_return(learner), **row})

    if 0 in points:
        record()
    while not learner.done:
        learner.train_update()
        if learner.update in points or learner.done:
            record()
    table = pd.DataFrame(rows)
    if learner.status != "ok":
        print(f"run ended {learner.status}: {learner.diverged_reason}", file=sys.stderr)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_csv(args.out, table)
    print(table.drop(columns=["algo", "seed", "lr"]).to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
