"""`python -m distral_repro.bench envs`: random-policy speed and memory of the env families.

Each family is measured in its own fresh process pinned to one CPU core: it builds the
family's batched env (all tasks, `--num-envs` environments in total), steps it with
uniformly random actions for about `--seconds`, and reports env steps per second
(environments x batched steps / wall time), the time of one batched step, the peak
resident memory of the process (interpreter and libraries included) and the size of the
env's own arrays. MiniGrid's FourRooms (one env, the usual Python loop; `--minigrid-ids`
chooses others) is measured the same way in the same run for comparison. Families defined
in an `--env-file` (`families:` block) are measured like the built-in ones. Each built-in
family is measured in every view of `--views` (default: the one-hot window, and the
first-person frames of envs/raycast.py at 32x32, with and without the wall cache, and 84x84):

    python -m distral_repro.bench envs --env-file config/config.yaml --families maze minigrid4 \
        --minigrid-ids MiniGrid-DoorKey-5x5-v0 MiniGrid-Empty-5x5-v0
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

MINIGRID_ID = "MiniGrid-FourRooms-v0"
DEFAULT_FAMILIES = ("maze", "navigation", "lasertag")


def _pin_to_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _array_mib(obj) -> float:
    """Size of the numpy arrays held directly by an object (its own state and tables)."""
    return sum(v.nbytes for v in vars(obj).values() if isinstance(v, np.ndarray)) / 2**20


DEFAULT_VIEWS = ("window", "first_person:32", "first_person:32:nocache", "first_person:84")


def parse_view(text: str) -> dict:
    """'window' -> {}, 'first_person:32' -> {view: first_person, image_size: 32} (ValueError if invalid).

    'first_person:32:nocache' also turns the renderer's wall cache off (walls ray-cast every step).
    """
    from distral_repro.envs.raycast import DEFAULT_IMAGE_SIZE, check_view

    text, nocache = (text[: -len(":nocache")], True) if text.endswith(":nocache") else (text, False)
    view, _, size = text.partition(":")
    if view == "window" and not size and not nocache:
        return {}
    try:
        image_size = int(size) if size else DEFAULT_IMAGE_SIZE
    except ValueError:
        raise ValueError(f"view {text!r}: the frame size after ':' must be an integer") from None
    check_view(view, image_size)
    return {"view": view, "image_size": image_size, **({"cache": False} if nocache else {})}


def view_label(family: str, settings: dict) -> str:
    """The row name: the family for the window view, else e.g. 'maze first_person 32x32'."""
    if not settings:
        return family
    cache = " (no wall cache)" if settings.get("cache") is False else ""
    return f"{family} {settings['view']} {settings['image_size']}x{settings['image_size']}{cache}"


def measure_family(family: str, num_envs: int, seconds: float, preset: str, env_file: str | None = None,
                   view: str = "window") -> dict:
    """Random-policy throughput of a family with `num_envs` environments in total, in `view`."""
    spec = _specs(env_file)[family]
    settings = parse_view(view)
    env = spec.make(num_envs // spec.num_tasks, seed=0, preset=preset, **{k: v for k, v in settings.items() if k != "cache"})
    if settings.get("cache") is False:
        env.renderer.cache = False
    env.reset()  # first-person: builds the wall cache (construction, not stepping)
    actions = np.random.default_rng(0).integers(0, env.single_action_space.n, (512, env.num_envs))
    for i in range(20):  # warm-up
        env.step(actions[i])
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for i in range(100):
            env.step(actions[(steps + i) % len(actions)])
        steps += 100
    elapsed = time.perf_counter() - start
    return {
        "name": view_label(family, settings),
        "tasks": env.num_tasks,
        "envs": env.num_envs,
        "steps_per_second": steps * env.num_envs / elapsed,
        "us_per_batched_step": elapsed / steps * 1e6,
        "peak_rss_mib": _peak_rss_mib(),
        "env_arrays_mib": _array_mib(env) + (_array_mib(env.renderer) if getattr(env, "renderer", None) else 0.0),
    }


def _specs(env_file: str | None) -> dict:
    from distral_repro.envs.specs import family_specs, load_family_file

    return family_specs(load_family_file(env_file) if env_file else None)


def measure_minigrid(seconds: float, env_id: str = MINIGRID_ID) -> dict:
    """Random-policy throughput of one MiniGrid env (gymnasium's Python loop)."""
    import gymnasium
    import minigrid  # noqa: F401  (registers the MiniGrid ids)

    env = gymnasium.make(env_id)
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, env.action_space.n, 4096)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for i in range(200):
            _, _, terminated, truncated, _ = env.step(int(actions[(steps + i) % len(actions)]))
            if terminated or truncated:
                env.reset()
        steps += 200
    elapsed = time.perf_counter() - start
    return {
        "name": env_id,
        "tasks": 1,
        "envs": 1,
        "steps_per_second": steps / elapsed,
        "us_per_batched_step": elapsed / steps * 1e6,
        "peak_rss_mib": _peak_rss_mib(),
        "env_arrays_mib": float("nan"),
    }


def _run_worker(target: str, args: argparse.Namespace, view: str = "window") -> dict:
    """Measure one target in a fresh process (so peak memory is its own)."""
    command = [
        sys.executable, "-m", "distral_repro.bench.envs", "--worker", target, "--views", view,
        "--num-envs", str(args.num_envs), "--seconds", str(args.seconds), "--preset", args.preset,
        *(["--env-file", args.env_file] if args.env_file else []),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark of {target} failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def format_table(rows: list[dict], minigrid_id: str = MINIGRID_ID) -> str:
    """A Markdown table of the measurements, with the speed-up over the last (MiniGrid) row."""
    reference = next((r["steps_per_second"] for r in rows if r["name"] == minigrid_id), None)
    lines = [
        "| env | tasks | envs | steps/s | us per batched step | x MiniGrid | peak RSS MiB | env arrays MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        speedup = r["steps_per_second"] / reference if reference else None
        ratio = "-" if speedup is None else f"{speedup:,.0f}" if speedup >= 10 else f"{speedup:.2f}"
        arrays = "-" if r["env_arrays_mib"] is None or r["env_arrays_mib"] != r["env_arrays_mib"] else f"{r['env_arrays_mib']:.1f}"
        lines.append(
            f"| {r['name']} | {r['tasks']} | {r['envs']} | {r['steps_per_second']:,.0f} | "
            f"{r['us_per_batched_step']:,.0f} | {ratio} | {r['peak_rss_mib']:.0f} | {arrays} |"
        )
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    from distral_repro.envs import PRESET_NAMES

    parser = argparse.ArgumentParser(prog="python -m distral_repro.bench envs", description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(DEFAULT_FAMILIES),
                        help="families to measure: maze, navigation, lasertag, or those of --env-file")
    parser.add_argument("--env-file", help="a YAML file with a 'families:' block (e.g. config/config.yaml)")
    parser.add_argument("--minigrid-ids", nargs="+", default=[MINIGRID_ID],
                        help="MiniGrid envs of the single-env loop (x MiniGrid is relative to the first)")
    parser.add_argument("--num-envs", type=int, default=256, help="environments per family (all tasks together)")
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per env")
    parser.add_argument("--preset", default="default", choices=PRESET_NAMES, help="env preset (map sizes)")
    parser.add_argument("--views", nargs="+", default=list(DEFAULT_VIEWS),
                        help="views of the built-in families: window, first_person:SIZE (SIZE 16..84), "
                             "first_person:SIZE:nocache (walls ray-cast every step)")
    parser.add_argument("--no-minigrid", action="store_true", help="skip the MiniGrid FourRooms comparison")
    parser.add_argument("--json", help="also write the measurements to this JSON file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.num_envs < 1 or args.seconds <= 0:
        parser.error("--num-envs must be >= 1 and --seconds > 0")
    if args.worker:
        _pin_to_one_core()
        result = measure_minigrid(args.seconds, args.worker) if args.worker.startswith("MiniGrid-") else measure_family(
            args.worker, args.num_envs, args.seconds, args.preset, args.env_file, args.views[0]
        )
        print(json.dumps(result))
        return 0

    try:
        specs = _specs(args.env_file)
        for family in args.families:
            if family not in specs or family == "gridworld":
                raise ValueError(f"unknown family {family!r}; valid: {', '.join(n for n in specs if n != 'gridworld')}")
            if not specs[family].builtin:
                specs[family].check()
    except ValueError as error:
        parser.error(str(error))
    for family in args.families:
        if args.num_envs % specs[family].num_tasks:
            parser.error(f"--num-envs {args.num_envs} is not a multiple of the {specs[family].num_tasks} {family} tasks")
    try:
        views = [(v, parse_view(v)) for v in args.views]
    except ValueError as error:
        parser.error(str(error))
    # Every built-in family in every view; user families and MiniGrid in their own observations.
    targets = [(f, v) for f in args.families for v, settings in views if not settings or specs[f].builtin]
    targets += [] if args.no_minigrid else [(m, "window") for m in args.minigrid_ids]
    rows = []
    for target, view in targets:
        try:
            rows.append(_run_worker(target, args, view))
        except RuntimeError as error:
            print(error, file=sys.stderr)
            return 1
    print(f"Random policy, one core, preset {args.preset!r}:")
    print(format_table(rows, args.minigrid_ids[0]))
    if args.json:
        from distral_repro.runio import atomic_write_json

        atomic_write_json(args.json, {"preset": args.preset, "num_envs": args.num_envs, "results": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
