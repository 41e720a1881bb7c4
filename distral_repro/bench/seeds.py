"""`python -m distral_repro.bench seeds`: CPU-seconds per run when S seeds of one setting train in one process.

For each algorithm and each S, S one-seed learners (``learner.Learner``, what a job runs today)
and one :class:`distral_repro.seedbatch.SeedBatch` of the same S seeds (which recomputes the
unroll, the learner's form before issue 25) train side by side in this
process, update after update, alternating (so a busy host slows both alike). Reported: CPU-seconds
per seed-update of each, their ratio (the median and range over ``--blocks`` blocks of updates),
the loop's CPU-seconds per run at the preset's budget (per seed-update x updates per run), and
whether every seed's parameters and curves are the same bytes in both. ``--engines`` adds the
environment step alone: one engine holding S seeds' environments against S engines.
All in one process with one torch thread: neither side pays an import (the fork server,
``distral_repro.forkserver``, already shares it between the workflow's jobs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np

from distral_repro.bench.envs import _pin_to_one_core

DEFAULT_SEED_COUNTS = (1, 2, 4, 8)


def alternate(first, second, rounds: int) -> tuple[list[float], list[float]]:
    """Call first() and second() in turn `rounds` times; their CPU-seconds per call."""
    times_first, times_second = [], []
    for _ in range(rounds):
        start = time.process_time()
        first()
        middle = time.process_time()
        second()
        times_first.append(middle - start)
        times_second.append(time.process_time() - middle)
    return times_first, times_second


def block_ratios(before: list[float], after: list[float], blocks: int) -> list[float]:
    """before / after summed over each of `blocks` consecutive equal blocks of updates."""
    size = len(before) // blocks
    return [sum(before[i * size:(i + 1) * size]) / sum(after[i * size:(i + 1) * size]) for i in range(blocks)]


def same_bytes(alone: list, batched: list) -> bool:
    """Every seed's parameters, curves and pi_0 curves equal in both."""
    import torch

    for a, b in zip(alone, batched):
        if a.progress != b.progress or a.pi0_progress != b.pi0_progress or a.status != b.status:
            return False
        if not all(torch.equal(x, y) for x, y in zip(a.net.state_dict().values(), b.net.state_dict().values())):
            return False
    return True


def measure(algo: str, env: str, seeds: int, updates: int, blocks: int, preset: str, view: str, image_size: int) -> dict:
    """Side-by-side CPU-seconds of `seeds` one-seed learners and one seed batch over `updates` updates."""
    from distral_repro.config import make_run_config
    from distral_repro.learner import Learner
    from distral_repro.seedbatch import SeedBatch

    configs = [make_run_config(algo, env, 3000, 4e-3, seed, preset, view=view, image_size=image_size)
               for seed in range(seeds)]
    alone = [Learner(c) for c in configs]
    batch = SeedBatch([Learner(c) for c in configs])
    total_updates = alone[0].total_updates
    rounds = min(updates, total_updates - 1)

    def step_alone():
        for learner in alone:
            learner.train_update()

    alternate(step_alone, batch.train_update, 1)  # warm-up: first calls allocate
    before, after = alternate(step_alone, batch.train_update, rounds)
    batch.sync()
    per_update_alone = sum(before) / rounds / seeds
    per_update_batched = sum(after) / rounds / seeds
    ratios = block_ratios(before, after, blocks)
    return {
        "algo": algo, "env": env, "seeds": seeds, "updates": rounds, "updates_per_run": total_updates,
        "cpu_s_per_seed_update_alone": per_update_alone,
        "cpu_s_per_seed_update_batched": per_update_batched,
        "loop_cpu_s_per_run_alone": per_update_alone * total_updates,
        "loop_cpu_s_per_run_batched": per_update_batched * total_updates,
        "speedup": per_update_alone / per_update_batched,
        "speedup_median": statistics.median(ratios), "speedup_min": min(ratios), "speedup_max": max(ratios),
        "same_bytes": same_bytes(alone, batch.learners),
    }


def measure_engines(env: str, seeds: int, steps: int, preset: str) -> dict:
    """CPU-seconds per seed-step of one engine with S seeds' environments vs S engines (random actions)."""
    from distral_repro.config import make_run_config
    from distral_repro.envs.specs import family_specs

    workers = make_run_config("A3C", env, 1, 1, 0, preset).budget.workers
    family = family_specs(None)[env]
    one = family.make(workers * seeds, seed=0, preset=preset)
    one.reset(seed=0)
    separate = [family.make(workers, seed=s, preset=preset) for s in range(seeds)]
    for s, engine in enumerate(separate):
        engine.reset(seed=s)
    rng = np.random.default_rng(0)
    actions = int(one.single_action_space.n)

    def step_one():
        one.step(rng.integers(0, actions, size=one.num_envs))

    def step_separate():
        for engine in separate:
            engine.step(rng.integers(0, actions, size=engine.num_envs))

    alternate(step_one, step_separate, 5)
    t_one, t_separate = alternate(step_one, step_separate, steps)
    return {"env": env, "seeds": seeds, "steps": steps,
            "cpu_ms_per_seed_step_one_engine": sum(t_one) / steps / seeds * 1e3,
            "cpu_ms_per_seed_step_separate_engines": sum(t_separate) / steps / seeds * 1e3,
            "ratio": sum(t_separate) / sum(t_one)}


def format_table(rows: list[dict]) -> str:
    header = (f"{'algorithm':<14} {'S':>2} {'ms/seed-upd alone':>17} {'batched':>8} {'speed-up':>8} "
              f"{'(min..max)':>12} {'loop s/run alone':>16} {'batched':>8} {'same bytes':>10}")
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['algo']:<14} {r['seeds']:>2} {r['cpu_s_per_seed_update_alone'] * 1e3:>17.1f} "
            f"{r['cpu_s_per_seed_update_batched'] * 1e3:>8.1f} {r['speedup_median']:>8.2f} "
            f"{r['speedup_min']:>5.2f}..{r['speedup_max']:<5.2f} {r['loop_cpu_s_per_run_alone']:>16.1f} "
            f"{r['loop_cpu_s_per_run_batched']:>8.1f} {str(r['same_bytes']):>10}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from distral_repro.config import ALGORITHMS, ENVIRONMENTS
    from distral_repro.envs import PRESET_NAMES

    parser = argparse.ArgumentParser(prog="python -m distral_repro.bench seeds", description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", default=list(ALGORITHMS), choices=list(ALGORITHMS))
    parser.add_argument("--env", default="maze", choices=list(ENVIRONMENTS))
    parser.add_argument("--preset", default="default", choices=PRESET_NAMES)
    parser.add_argument("--seeds", nargs="+", type=int, default=list(DEFAULT_SEED_COUNTS), help="batch sizes S")
    parser.add_argument("--updates", type=int, default=24, help="updates timed per (algorithm, S)")
    parser.add_argument("--blocks", type=int, default=4, help="blocks of updates for the ratio's median and range")
    parser.add_argument("--engines", action="store_true", help="also time the environment step alone")
    parser.add_argument("--view", default="window", choices=("window", "first_person"))
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--json", help="also write the measurements to this JSON file")
    args = parser.parse_args(argv)
    if min(args.seeds) < 1 or args.updates < 2 or not 1 <= args.blocks <= args.updates:
        parser.error("--seeds must be >= 1, --updates >= 2 and --blocks between 1 and --updates")
    _pin_to_one_core()
    import torch

    torch.set_num_threads(1)
    rows = []
    for seeds in args.seeds:
        for algo in args.algos:
            rows.append(measure(algo, args.env, seeds, args.updates, args.blocks, args.preset, args.view, args.image_size))
            print(format_table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    print(f"Seeds batched in one process vs one learner each, env {args.env!r}, preset {args.preset!r}, "
          f"view {args.view}, one core, one thread (CPU time, alternating updates):")
    print(format_table(rows))
    engines = []
    if args.engines:
        engines = [measure_engines(args.env, s, 200, args.preset) for s in args.seeds]
        print("Environment step alone, CPU ms per seed-step: " + ", ".join(
            f"S={e['seeds']}: one engine {e['cpu_ms_per_seed_step_one_engine']:.3f}, "
            f"S engines {e['cpu_ms_per_seed_step_separate_engines']:.3f}" for e in engines))
    if args.json:
        from distral_repro.runio import atomic_write_json

        atomic_write_json(args.json, {"env": args.env, "preset": args.preset, "view": args.view,
                                      "image_size": args.image_size, "results": rows, "engines": engines})
    return 0


if __name__ == "__main__":
    sys.exit(main())
