"""`python -m distral_repro.bench learning`: core-seconds to reach a normalised score of 0.3.

    python -m distral_repro.bench learning [--settings before after] [--envs maze navigation lasertag]
        [--algos A3C KL+ent_2col] [--seeds 4] [--parallel 2] [--out-dir bench_results/learning]

Learning per core-second, the package's figure of merit: each (setting, env, algorithm, seed)
is one whole training job (start-up included) at the confirmation stage's budget and the
default preset's best-guess setting (beta 1000, lr 4e-3; `--beta`, `--lr`), timed by the kernel (user + sys of
the child process, `os.wait4`), so other load on the machine changes little. Its curve is
normalised by reference scores measured under the same setting (`distral_repro.reference`,
also timed apart), and the table gives the first step at which the mean score over tasks
reaches 0.3 and the core-seconds to it (the job's core-seconds pro rata to that step, as
`distral_repro.analysis.pilots` does). Settings:

- `after`: the package's defaults;
- `before`: the settings before calibration (RMSProp eps 1e-5, a time limit treated as
  terminal, navigation on 15x15 maps);
- `uniform_start`: the defaults with the torso's start before issue 29 (uniform init, RMSProp's
  square average starting at zero; docs/learner.md);
- `first_person`: the defaults on 32x32 first-person frames and the pixel torso
  (docs/first_person.md; the reference scores are the window view's: same dynamics).

Writes OUT_DIR/runs/..., OUT_DIR/references_{setting}.csv and OUT_DIR/learning.csv; prints
the table. Runs already complete in OUT_DIR are kept (rerun the command to finish a cut one).
"""

from __future__ import annotations

import argparse
import os
import runpy
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SETTINGS = {
    "after": {"hyper": [], "env": []},
    "before": {
        "hyper": ["rmsprop_eps=1e-5", "bootstrap_time_limit=false"],
        "env": ["navigation.size=15"],
    },
    "uniform_start": {"hyper": ["init=uniform", "rmsprop_square_start=zero"], "env": []},
    "first_person": {"hyper": [], "env": [], "train": ["--view", "first_person", "--image-size", "32"]},
}
#: The confirmation stage's budgets (config/config.yaml), env steps per task.
STEPS = {"maze": 128_000, "navigation": 320_000, "lasertag": 64_000}
BETA, LR = "1000", "4e-3"


def run_patched(argv: list[str]) -> None:
    """`_run KEY=VALUE ... -- MODULE ARGS`: run MODULE as `python -m` would, with the default
    preset's env settings FAMILY.KEY replaced (how `before` rebuilds the old maps)."""
    from distral_repro.envs import families

    cut = argv.index("--")
    for item in argv[:cut]:
        key, value = item.split("=", 1)
        family, setting = key.split(".", 1)
        current = families.PRESETS["default"][family][setting]
        families.PRESETS["default"][family][setting] = type(current)(value)
    module, *args = argv[cut + 1:]
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def timed(command: list[str], log: Path) -> float:
    """Run a command to completion; its user + sys core-seconds (it and its children)."""
    with log.open("w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed (exit {proc.returncode}); see {log}")
    return usage.ru_utime + usage.ru_stime


def patched_command(setting: str, module: str, args: list[str]) -> list[str]:
    return [sys.executable, "-m", "distral_repro.bench.learning", "_run", *SETTINGS[setting]["env"], "--", module, *args]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_run":
        run_patched(argv[1:])
        return 0
    parser = argparse.ArgumentParser(prog="python -m distral_repro.bench learning", description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=["before", "after"])
    parser.add_argument("--envs", nargs="+", choices=list(STEPS), default=list(STEPS))
    parser.add_argument("--algos", nargs="+", default=["A3C", "KL+ent_2col"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[4])
    parser.add_argument("--steps-scale", type=float, default=1.0, help="multiply every budget (a quick look: 0.1)")
    parser.add_argument("--parallel", type=int, default=2, help="jobs at a time (one core each)")
    parser.add_argument("--beta", default=BETA, help=f"beta of every job (default {BETA})")
    parser.add_argument("--lr", default=LR, help=f"learning rate of every job (default {LR})")
    parser.add_argument("--out-dir", type=Path, default=Path("bench_results/learning"))
    args = parser.parse_args(argv)

    from distral_repro.config import ALGORITHMS

    unknown = [a for a in args.algos if a not in ALGORITHMS]
    if unknown:
        parser.error(f"unknown algorithm(s) {', '.join(unknown)}; valid: {', '.join(ALGORITHMS)}")
    out = args.out_dir
    (out / "logs").mkdir(parents=True, exist_ok=True)

    reference_seconds = {}
    for setting in args.settings:
        refs = out / f"references_{setting}.csv"
        if not refs.exists():
            reference_seconds[setting] = timed(
                patched_command(setting, "distral_repro.reference", ["--preset", "default", "--out", str(refs), *args.envs]),
                out / "logs" / f"references_{setting}.log",
            )

    jobs = [(setting, env, algo, seed) for setting in args.settings for env in args.envs for algo in args.algos
            for seed in args.seeds]
    lock = threading.Lock()

    def train(job) -> None:
        setting, env, algo, seed = job
        run = out / "runs" / f"{setting}_{env}_{algo}_seed{seed}"
        if (run / "summary.json").exists() and (run / "time.txt").exists():
            return
        steps = max(1, int(STEPS[env] * args.steps_scale))
        hyper = [a for h in SETTINGS[setting]["hyper"] for a in ("--hyper", h)]
        train_args = ["--algo", algo, "--env", env, "--beta", args.beta, "--lr", args.lr, "--seed", str(seed),
                      "--steps-per-task", str(steps), "--out", str(run), "--quiet", *hyper,
                      *SETTINGS[setting].get("train", [])]
        seconds = timed(patched_command(setting, "distral_repro.train", train_args), out / "logs" / f"{run.name}.log")
        (run / "time.txt").write_text(f"{seconds:.2f} 0\n")  # the pilots' "USER SYS" (sys folded in)
        with lock:
            print(f"{run.name}: {seconds:.1f} core-seconds", file=sys.stderr)

    with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
        list(pool.map(train, jobs))

    import pandas as pd

    from distral_repro.analysis.pilots import TARGET, pilot_rows
    from distral_repro.analysis.scores import References
    from distral_repro.runio import atomic_write_csv

    tables = []
    for setting in args.settings:
        labelled = [(f"{s}_{e}_{a}_seed{seed}", out / "runs" / f"{s}_{e}_{a}_seed{seed}")
                    for s, e, a, seed in jobs if s == setting]
        table, _ = pilot_rows(labelled, References.load(out / f"references_{setting}.csv"))
        tables.append(table.assign(setting=setting))
    table = pd.concat(tables, ignore_index=True)
    atomic_write_csv(out / "learning.csv", table)
    columns = ["setting", "env", "algo", "seed", "final_score", f"step_to_{TARGET:g}", "core_seconds",
               f"core_seconds_to_{TARGET:g}"]
    print(table[columns].to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    for setting, seconds in reference_seconds.items():
        print(f"reference scores ({setting}): {seconds:.1f} core-seconds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
