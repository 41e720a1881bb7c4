"""The grid-world experiment (Figure 3): ``python -m distral_repro.gridworld``.

    python -m distral_repro.gridworld --method {distral,separate} --seed S --out DIR \\
        [--preset smoke|default|paper] [--episodes N] [--goal-reward R]

Trains the 4 two-room tasks with tabular soft Q-learning, either with a distilled
pi_0 (Distral, alpha = 1) or separately with a uniform prior, and writes into DIR,
each file atomically:

- ``progress.csv``: one row per (episode, task): ``episode, task, episode_return,
  episode_length, reached_goal``;
- ``summary.json``: ``status, method, seed, preset, config``, per-task ``final_return``
  (mean over the last 10% of episodes) and ``auc_return`` (mean over all episodes), their
  means over tasks, ``episodes_to_solve`` per task (first 10 goal-reaching episodes in a
  row; null if never), the learned ``pi0`` (null for separate), ``wall_time_s``, ``version``.

Bad arguments: one line on stderr, exit 2, nothing written.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from distral_repro import __version__
from distral_repro.cli import OneLineParser, UsageError
from distral_repro.runio import atomic_write_csv, atomic_write_json, git_commit
from distral_repro.tabular.experiment import (
    METHODS,
    PRESET_EPISODES,
    TabularConfig,
    TabularResult,
    episodes_to_solve,
    preset_config,
    prior_table,
    run_experiment,
)

PROGRESS_COLUMNS = ("episode", "task", "episode_return", "episode_length", "reached_goal")
FINAL_FRACTION = 0.1  # final return = mean over the last 10% of episodes
SOLVED_STREAK = 10




def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m distral_repro.gridworld", description=__doc__.split("\n\n")[0])
    p.add_argument("--method", required=True, help=f"one of {', '.join(METHODS)}")
    p.add_argument("--seed", required=True, type=int, help="random seed (integer >= 0)")
    p.add_argument("--out", required=True, type=Path, help="run directory, e.g. results/gridworld/distral/seed0")
    p.add_argument("--preset", default="default", help=f"one of {', '.join(PRESET_EPISODES)} (number of episodes)")
    p.add_argument("--episodes", type=int, help="episodes per task (overrides the preset)")
    p.add_argument("--goal-reward", type=float, help="reward for reaching the goal (default 10)")
    return p


def parse(argv: list[str] | None) -> tuple[TabularConfig, argparse.Namespace]:
    """Parse and validate everything before any work; raises UsageError."""
    args = build_parser().parse_args(argv)
    if args.method not in METHODS:
        raise UsageError(f"unknown --method {args.method!r}; valid: {', '.join(METHODS)}")
    if args.preset not in PRESET_EPISODES:
        raise UsageError(f"unknown --preset {args.preset!r}; valid: {', '.join(PRESET_EPISODES)}")
    if args.seed < 0:
        raise UsageError(f"--seed must be an integer >= 0, got {args.seed}")
    if args.episodes is not None and args.episodes < 1:
        raise UsageError(f"--episodes must be an integer >= 1, got {args.episodes}")
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} exists and is not a directory")
    overrides = {}
    if args.episodes is not None:
        overrides["episodes"] = args.episodes
    if args.goal_reward is not None:
        overrides["goal_reward"] = args.goal_reward
    try:
        config = preset_config(args.method, args.preset, **overrides)
    except ValueError as err:
        raise UsageError(str(err)) from None
    return config, args


def progress_frame(result: TabularResult) -> pd.DataFrame:
    """The tidy episode log: one row per (episode, task), ordered by episode then task."""
    return pd.DataFrame(
        {
            "episode": result.episode,
            "task": result.task,
            "episode_return": result.episode_return,
            "episode_length": result.episode_length,
            "reached_goal": result.reached_goal.astype(int),
        },
        columns=list(PROGRESS_COLUMNS),
    )


def summarise(result: TabularResult, preset: str) -> dict:
    """summary.json of a finished run (docs/contracts.md, grid world)."""
    frame = progress_frame(result)
    final, auc, solved, final_length = {}, {}, {}, {}
    for task, rows in frame.groupby("task"):
        rows = rows.sort_values("episode")
        last = max(1, math.ceil(FINAL_FRACTION * len(rows)))
        final[str(task)] = float(rows["episode_return"].iloc[-last:].mean())
        auc[str(task)] = float(rows["episode_return"].mean())
        final_length[str(task)] = float(rows["episode_length"].iloc[-last:].mean())
        solved[str(task)] = episodes_to_solve(rows["reached_goal"].to_numpy(bool), SOLVED_STREAK)
    config = vars(result.config).copy()
    return {
        "status": "ok",
        "method": result.config.method,
        "seed": result.seed,
        "preset": preset,
        "config": config,
        "final_return": final,
        "auc_return": auc,
        "mean_final_return": float(np.mean(list(final.values()))),
        "mean_auc_return": float(np.mean(list(auc.values()))),
        "final_episode_length": final_length,
        "episodes_to_solve": solved,
        "solved_streak": SOLVED_STREAK,
        "pi0": prior_table(result.prior) if result.config.method == "distral" else None,
        "wall_time_s": result.wall_time_s,
        "version": __version__,
        "git_commit": git_commit(),
    }


def main(argv: list[str] | None = None) -> int:
    try:
        config, args = parse(argv)
    except UsageError as err:
        print(f"python -m distral_repro.gridworld: error: {err}", file=sys.stderr)
        return 2
    result = run_experiment(config, args.seed)
    atomic_write_csv(args.out / "progress.csv", progress_frame(result))
    summary = summarise(result, args.preset)
    atomic_write_json(args.out / "summary.json", summary)  # last: its presence marks a complete run
    solved = summary["episodes_to_solve"].values()
    print(
        f"{config.method} seed {args.seed}: mean final return {summary['mean_final_return']:.3g}, "
        f"mean AUC {summary['mean_auc_return']:.3g}, episodes to solve {list(solved)}, "
        f"{result.wall_time_s:.1f} s -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
