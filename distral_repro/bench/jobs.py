"""`python -m distral_repro.bench jobs`: core-seconds of whole grid jobs, direct and through the fork server.

The same jobs (every algorithm of `--algos` x `--seeds`, beta 1000, lr 4e-3, the preset's
budget) run twice, `--parallel` at a time as `snakemake --cores all` runs them: once as
`python -m distral_repro.train` each, once as `python -m distral_repro.forkserver run` against
one server (started for the batch, as the workflow starts it). Core-seconds are the kernel's
(user + sys of every process of the batch, the server and its import of torch included:
`resource.getrusage(RUSAGE_CHILDREN)`); wall seconds cover the batch. The two batches'
progress.csv files are compared: they must be identical.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def _core_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _batch(jobs: dict[str, list[str]], module: str, root: Path, parallel: int, env: dict) -> None:
    def one(name: str) -> None:
        cmd = [sys.executable, "-m", module] + (["run", "--"] if module.endswith("forkserver") else [])
        subprocess.run(cmd + jobs[name] + ["--out", str(root / name)], check=True, env=env, stdout=subprocess.DEVNULL)

    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, jobs))


def measure(jobs: dict[str, list[str]], parallel: int, scratch: Path) -> list[dict]:
    """JOBS: run-directory name -> the training command's arguments."""
    from distral_repro import forkserver

    rows = []
    env = {k: v for k, v in os.environ.items() if k != forkserver.ENV_VAR}
    for way in ("direct", "fork server"):
        root = scratch / way.replace(" ", "_")
        root.mkdir()
        core, wall = _core_s(), time.perf_counter()
        if way == "direct":
            _batch(jobs, "distral_repro.train", root, parallel, env)
        else:
            server = forkserver.start(scratch / "forkserver.log")
            if server is None:
                raise RuntimeError(f"the fork server did not start: {(scratch / 'forkserver.log').read_text()}")
            try:
                _batch(jobs, "distral_repro.forkserver", root, parallel, {**env, forkserver.ENV_VAR: os.environ[forkserver.ENV_VAR]})
            finally:
                forkserver.stop(server)
        core, wall = _core_s() - core, time.perf_counter() - wall
        rows.append({"way": way, "jobs": len(jobs), "core_s": core, "core_s_per_job": core / len(jobs),
                     "wall_s": wall, "jobs_per_min": 60 * len(jobs) / wall})
    direct, served = (sorted((scratch / d).glob("*/progress.csv")) for d in ("direct", "fork_server"))
    same = len(direct) == len(served) == len(jobs) and all(a.read_bytes() == b.read_bytes() for a, b in zip(direct, served))
    for row in rows:
        row["identical_files"] = same
    return rows


def main(argv: list[str] | None = None) -> int:
    from distral_repro.config import ALGORITHMS, ENVIRONMENTS
    from distral_repro.envs import PRESET_NAMES

    parser = argparse.ArgumentParser(prog="python -m distral_repro.bench jobs", description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", default=list(ALGORITHMS), choices=list(ALGORITHMS))
    parser.add_argument("--env", default="maze", choices=list(ENVIRONMENTS))
    parser.add_argument("--preset", default="default", choices=PRESET_NAMES)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--parallel", type=int, default=2, help="jobs at a time (default 2: --cores all here)")
    parser.add_argument("--json", help="also write the measurements to this JSON file")
    args = parser.parse_args(argv)
    if args.parallel < 1:
        parser.error("--parallel must be >= 1")
    jobs = {f"{algo}_seed{seed}": ["--algo", algo, "--env", args.env, "--seed", str(seed), "--beta", "1000",
                                   "--lr", "4e-3", "--preset", args.preset, "--threads", "1", "--quiet"]
            for algo in args.algos for seed in args.seeds}
    with tempfile.TemporaryDirectory() as scratch:
        try:
            rows = measure(jobs, args.parallel, Path(scratch))
        except (RuntimeError, subprocess.CalledProcessError) as error:
            print(f"distral_repro.bench jobs: {error}", file=sys.stderr)
            return 1
    print(f"{len(jobs)} grid jobs (env {args.env!r}, preset {args.preset!r}), {args.parallel} at a time:")
    print(f"{'way':<12} {'core-s':>8} {'core-s/job':>11} {'wall s':>7} {'jobs/min':>9}")
    for r in rows:
        print(f"{r['way']:<12} {r['core_s']:>8.1f} {r['core_s_per_job']:>11.2f} {r['wall_s']:>7.1f} {r['jobs_per_min']:>9.1f}")
    saving = rows[0]["core_s_per_job"] - rows[1]["core_s_per_job"]
    print(f"fork server saves {saving:.2f} core-s per job ({100 * saving / rows[0]['core_s_per_job']:.0f}%); "
          f"identical progress.csv files: {rows[0]['identical_files']}")
    if args.json:
        from distral_repro.runio import atomic_write_json

        atomic_write_json(args.json, {"env": args.env, "preset": args.preset, "parallel": args.parallel, "results": rows})
    return 0 if rows[0]["identical_files"] else 1


if __name__ == "__main__":
    sys.exit(main())
