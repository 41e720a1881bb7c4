"""`python -m distral_repro.bench train`: speed and memory of whole training runs.

Each algorithm runs as its own fresh process pinned to one CPU core with one torch
thread, exactly as one job of the grid does (`python -m distral_repro.train`, the
preset's budget unless `--steps-per-task` is given, files written to a scratch folder).
Reported: env steps per second of the training loop (all tasks together, from the run's
summary.json), the wall time and CPU-seconds (user + sys) of the whole process (interpreter
start-up and imports included: what a Snakemake job costs), and the peak resident memory of
the process. `--numerics portable native` runs every algorithm in both numeric modes
(``distral_repro.numerics``), alternating, so that the cost of the portable mode is a ratio
measured side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from distral_repro import numerics
from distral_repro.bench.envs import _peak_rss_mib, _pin_to_one_core


def measure(algo: str, env: str, preset: str, steps_per_task: int | None, env_file: str | None = None,
            view: tuple[str, int] = ("window", 32)) -> dict:
    """Run one training job in this process and report its speed and memory."""
    from distral_repro import train

    with tempfile.TemporaryDirectory() as scratch:
        args = ["--algo", algo, "--env", env, "--beta", "100", "--lr", "2e-3", "--seed", "0",
                "--out", str(Path(scratch) / "run"), "--preset", preset, "--threads", "1", "--quiet"]
        if steps_per_task:
            args += ["--steps-per-task", str(steps_per_task)]
        if env_file:
            args += ["--env-file", env_file]
        args += ["--view", view[0], "--image-size", str(view[1])]
        config, out, _ = train.parse(args)
        summary = train.run(config, out, threads=1, quiet=True)
        timing = json.loads((out / "provenance.json").read_text())
    return {
        "algo": algo,
        "env": env,
        "view": view[0] if view[0] == "window" else f"{view[0]} {view[1]}x{view[1]}",
        "steps_per_task": summary["steps_per_task"],
        "env_steps": summary["total_env_steps"],
        "train_s": timing["wall_time_s"],
        "steps_per_s": timing["steps_per_second"],
        "peak_rss_mib": _peak_rss_mib(),
    }


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_worker(algo: str, args, mode: str) -> dict:
    cmd = [sys.executable, "-m", "distral_repro.bench", "train", "--worker", algo, "--env", args.env,
           "--preset", args.preset]
    if args.steps_per_task:
        cmd += ["--steps-per-task", str(args.steps_per_task)]
    if args.env_file:
        cmd += ["--env-file", args.env_file]
    cmd += ["--view", args.view, "--image-size", str(args.image_size)]
    start, cpu_start = time.perf_counter(), _children_cpu_s()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, numerics.ENV_VAR: mode})
    if done.returncode != 0:
        raise RuntimeError(f"benchmark of {algo} failed:\n{done.stderr}")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    row["process_s"] = time.perf_counter() - start
    row["process_cpu_s"] = _children_cpu_s() - cpu_start
    row["numerics"] = mode
    return row


def format_table(rows: list[dict]) -> str:
    header = (f"{'algorithm':<14} {'numerics':<9} {'env steps':>10} {'train s':>8} {'steps/s':>9} {'job s':>7} "
              f"{'job CPU s':>9} {'peak MiB':>9}")
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['algo']:<14} {r['numerics']:<9} {r['env_steps']:>10,} {r['train_s']:>8.1f} {r['steps_per_s']:>9,.0f} "
            f"{r['process_s']:>7.1f} {r['process_cpu_s']:>9.1f} {r['peak_rss_mib']:>9.0f}"
        )
    return "\n".join(lines)


def mode_ratios(rows: list[dict], mode: str, baseline: str) -> dict[str, float]:
    """Per algorithm and in total: job CPU-seconds in `mode` / in `baseline` (side by side)."""
    cpu = {(r["algo"], r["numerics"]): r["process_cpu_s"] for r in rows}
    algos = [r["algo"] for r in rows if r["numerics"] == mode and (r["algo"], baseline) in cpu]
    ratios = {a: cpu[a, mode] / cpu[a, baseline] for a in algos}
    if algos:
        ratios["all"] = sum(cpu[a, mode] for a in algos) / sum(cpu[a, baseline] for a in algos)
    return ratios


def main(argv: list[str] | None = None) -> int:
    from distral_repro.config import ALGORITHMS, ENVIRONMENTS
    from distral_repro.envs import PRESET_NAMES

    parser = argparse.ArgumentParser(prog="python -m distral_repro.bench train", description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", default=list(ALGORITHMS), choices=list(ALGORITHMS))
    parser.add_argument("--env", default="maze", help=f"{', '.join(ENVIRONMENTS)}, or a family of --env-file")
    parser.add_argument("--env-file", help="a YAML file with a 'families:' block (e.g. config/config.yaml)")
    parser.add_argument("--preset", default="default", choices=PRESET_NAMES)
    parser.add_argument("--steps-per-task", type=int, help="override the preset's budget")
    parser.add_argument("--numerics", nargs="+", choices=numerics.MODES, default=[numerics.active_mode()],
                        help="numeric modes to run each algorithm in, alternating (default: this process's)")
    parser.add_argument("--view", default="window", help="window, or first_person (frames of --image-size pixels)")
    parser.add_argument("--image-size", type=int, default=32, help="first-person frame side, 16..84")
    parser.add_argument("--json", help="also write the measurements to this JSON file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.steps_per_task is not None and args.steps_per_task < 1:
        parser.error("--steps-per-task must be >= 1")
    if args.worker:
        _pin_to_one_core()
        view = (args.view, args.image_size)
        print(json.dumps(measure(args.worker, args.env, args.preset, args.steps_per_task, args.env_file, view)))
        return 0
    from distral_repro import train

    try:  # the training command's own validation: one line, before any job
        with tempfile.TemporaryDirectory() as scratch:
            train.parse(["--algo", args.algos[0], "--env", args.env, "--beta", "1", "--lr", "1", "--seed", "0",
                         "--out", str(Path(scratch) / "run"), "--preset", args.preset,
                         "--view", args.view, "--image-size", str(args.image_size)]
                        + (["--env-file", args.env_file] if args.env_file else []))
    except (train.ConfigError, train.UsageError) as error:
        parser.error(str(error))
    rows = []
    for algo in args.algos:
        for mode in args.numerics:
            try:
                rows.append(_run_worker(algo, args, mode))
            except RuntimeError as error:
                print(error, file=sys.stderr)
                return 1
    view = args.view if args.view == "window" else f"{args.view} {args.image_size}x{args.image_size}"
    print(f"Whole training runs, one core, one thread, env {args.env!r}, preset {args.preset!r}, view {view}:")
    print(format_table(rows))
    ratios = {}
    if len(args.numerics) > 1:
        ratios = mode_ratios(rows, args.numerics[0], args.numerics[1])
        print(f"job CPU-seconds, {args.numerics[0]} / {args.numerics[1]}: "
              + ", ".join(f"{a} {r:.3f}" for a, r in ratios.items()))
    if args.json:
        from distral_repro.runio import atomic_write_json

        atomic_write_json(args.json, {"env": args.env, "preset": args.preset, "view": view, "results": rows,
                                      "cpu_ratio": ratios})
    return 0


if __name__ == "__main__":
    sys.exit(main())
