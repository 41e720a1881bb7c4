"""Reference scores of a task family: the returns that make scores comparable.

    python -m distral_repro.reference --preset default --out results/reference_scores.csv \
        [--env-file results/runs/my_minigrid/family.yaml ...] maze navigation lasertag [my_minigrid]

Per task, the mean episode return of two reference policies: the uniform-random policy
(the lower reference, normalised score 0) and the environment's own privileged
shortest-path policy `scripted_actions()` (the upper reference, score 1). A normalised score
is then (return - random) / (scripted - random) (`distral_repro.analysis.scores`).

Episodes are drawn in rounds (one more episode from every worker of every task) until, for
every task, the 95% confidence interval of each mean is within TOLERANCE (2%) of the gap
between the two means, or MAX_EPISODES per task were drawn (an error naming the task: its
references cannot be told apart). A family without a scripted policy gets the random
reference only (EPISODES_WITHOUT_UPPER episodes per task: a user's envs may be slow); its upper reference is a
documented value the user gives, or the best return observed in the grid (`upper_source`
says which). Where learned policies beat the scripted one by more than 10% of the gap in
the stored studies' best confirmation setting, the task's upper reference is that
documented best-known return (`best_known_returns.csv` beside this module, made by
`python -m distral_repro.analysis.best_known`; upper_source ``best_known``), whenever it is
above the scripted return measured here.

Output, one row per (env, task), written atomically: env, preset, task, random_return,
random_ci, random_episodes, upper_return, upper_ci, upper_episodes, upper_source
(``scripted`` | ``best_known`` | ``user`` | ``best_in_grid``; upper_return is empty for the last).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from scipy import stats

from distral_repro.envs.specs import FamilySpec, family_specs, load_family_file
from distral_repro.runio import atomic_write_csv

#: The 95% interval of each reference mean must be within this fraction of the gap.
TOLERANCE = 0.02
CONFIDENCE = 0.95
#: Episodes per task drawn in each round (workers of the batched env).
WORKERS = 64
#: Give up on a task after this many episodes per policy.
MAX_EPISODES = 20_000
#: Episodes per task of the random policy of a family without a scripted policy.
EPISODES_WITHOUT_UPPER = 256
#: Seed of the reference episodes (apart from the training seeds 0..N).
SEED = 1_000_000_007

COLUMNS = ("env", "preset", "task", "random_return", "random_ci", "random_episodes",
           "upper_return", "upper_ci", "upper_episodes", "upper_source")
UPPER_SOURCES = ("scripted", "best_known", "user", "best_in_grid")
#: Documented best-known returns (env, preset, task, best_known_return, provenance).
BEST_KNOWN = Path(__file__).with_name("best_known_returns.csv")


class ReferenceError(ValueError):
    """The reference policies of a task cannot be told apart within MAX_EPISODES."""


def ci_halfwidth(returns: np.ndarray, confidence: float = CONFIDENCE) -> float:
    """Half-width of the t-interval of the mean of `returns` (inf with fewer than 2 values)."""
    returns = np.asarray(returns, dtype=float)
    n = returns.size
    if n < 2:
        return float("inf")
    return float(stats.t.ppf(0.5 + confidence / 2, n - 1) * returns.std(ddof=1) / np.sqrt(n))


def precise_enough(lower: np.ndarray, upper: np.ndarray, tolerance: float = TOLERANCE) -> bool:
    """Whether both means' intervals are within `tolerance` of the gap between them."""
    gap = abs(float(np.mean(upper)) - float(np.mean(lower)))
    return gap > 0 and max(ci_halfwidth(lower), ci_halfwidth(upper)) <= tolerance * gap


@dataclass
class EpisodeReturns:
    """Returns of finished episodes of one policy, per task."""

    by_task: list[list[float]]

    def add(self, task_ids: np.ndarray, info: dict) -> None:
        mask = info.get("_episode_return")
        if mask is None:
            return
        for row in np.flatnonzero(mask):
            self.by_task[task_ids[row]].append(float(info["episode_return"][row]))

    def counts(self) -> np.ndarray:
        return np.array([len(r) for r in self.by_task])


Policy = Callable[[object, np.random.Generator], np.ndarray]


def random_policy(env, rng: np.random.Generator) -> np.ndarray:
    """Uniformly random actions for every environment of the batch."""
    return rng.integers(int(env.single_action_space.n), size=env.num_envs)


def scripted_policy(env, rng: np.random.Generator) -> np.ndarray:
    """The environment's privileged shortest-path policy."""
    return env.scripted_actions()


class EpisodeSource:
    """One policy acting in one batched family env, an episode per worker at a time."""

    def __init__(self, make_env: Callable[[], object], policy: Policy, seed: int):
        self.env = make_env()
        self.policy = policy
        self.rng = np.random.default_rng(seed)
        self.env.reset(seed=seed)
        self.task_ids = np.asarray(self.env.task_ids)
        self.returns = EpisodeReturns([[] for _ in range(int(self.env.num_tasks))])

    def round(self) -> None:
        """Step until every worker has finished one more episode."""
        target = self.returns.counts() + np.bincount(self.task_ids, minlength=len(self.returns.by_task))
        while (self.returns.counts() < target).any():
            _, _, _, _, info = self.env.step(self.policy(self.env, self.rng))
            self.returns.add(self.task_ids, info)


def apply_best_known(table: pd.DataFrame, best_known: pd.DataFrame) -> pd.DataFrame:
    """`table` with each scripted upper reference raised to its best-known return where that is higher."""
    table = table.copy()
    known = best_known.set_index(["env", "preset", "task"])["best_known_return"]
    for i, row in table.iterrows():
        value = known.get((row["env"], row["preset"], int(row["task"])))
        if value is not None and row["upper_source"] == "scripted" and value > row["upper_return"]:
            table.loc[i, ["upper_return", "upper_ci", "upper_episodes", "upper_source"]] = [value, 0.0, 0, "best_known"]
    return table


def measure_family(
    env: str, preset: str = "default", workers: int = WORKERS, seed: int = SEED,
    tolerance: float = TOLERANCE, max_episodes: int = MAX_EPISODES, spec: FamilySpec | None = None,
) -> pd.DataFrame:
    """Reference scores of every task of a family (rows as in the module doc).

    `spec` (default: the built-in family `env`) builds the batched env; a family without a
    scripted policy takes its upper reference from `spec.reference_returns()` (``user``) or
    leaves it to the analysis (``best_in_grid``).
    """
    spec = spec or family_specs()[env]

    def build():
        return spec.make(workers, seed=seed, preset=preset if spec.builtin else None)

    lower = EpisodeSource(build, random_policy, seed)
    has_scripted = hasattr(lower.env, "scripted_actions")
    upper = EpisodeSource(build, scripted_policy, seed + 1) if has_scripted else None
    num_tasks = len(lower.returns.by_task)
    while True:
        lower.round()
        if upper is None:
            # No second reference to measure the gap by: a fixed, generous sample.
            if lower.returns.counts().min() >= EPISODES_WITHOUT_UPPER:
                break
            continue
        upper.round()
        done = [precise_enough(lower.returns.by_task[t], upper.returns.by_task[t], tolerance) for t in range(num_tasks)]
        if all(done):
            break
        if lower.returns.counts().min() >= max_episodes:
            bad = [t for t, ok in enumerate(done) if not ok]
            raise ReferenceError(
                f"{env}: tasks {bad}: the random and scripted returns are not separated within "
                f"{tolerance:.0%} after {max_episodes} episodes (a task the scripted policy does not solve?)"
            )
    rows = []
    for task in range(num_tasks):
        r = np.array(lower.returns.by_task[task])
        row = {"env": env, "preset": preset, "task": task, "random_return": r.mean(), "random_ci": ci_halfwidth(r),
               "random_episodes": r.size}
        if upper is not None:
            u = np.array(upper.returns.by_task[task])
            row.update(upper_return=u.mean(), upper_ci=ci_halfwidth(u), upper_episodes=u.size, upper_source="scripted")
        elif spec.reference_returns() is not None:
            row.update(upper_return=spec.reference_returns()[task], upper_ci=0.0, upper_episodes=0, upper_source="user")
        else:
            row.update(upper_return=np.nan, upper_ci=np.nan, upper_episodes=0, upper_source="best_in_grid")
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distral_repro.reference", description=__doc__.split("\n\n")[0])
    parser.add_argument("envs", nargs="+", metavar="ENV", help="task families (maze, navigation, lasertag, ...)")
    parser.add_argument("--preset", default="default", help="the preset the runs use")
    parser.add_argument("--out", required=True, type=Path, help="CSV to write (e.g. results/reference_scores.csv)")
    parser.add_argument("--env-file", action="append", default=[], help="YAML with a 'families:' block (repeatable)")
    args = parser.parse_args(argv)
    try:
        definitions = {}
        for path in args.env_file:
            definitions.update(load_family_file(path))
        specs = family_specs(definitions)
        # Check every name before the (seconds-long) measurement of any of them.
        for env in args.envs:
            if env not in specs:
                raise ValueError(f"unknown family {env!r}; valid: {', '.join(specs)}")
            specs[env].make(1, seed=0, preset=args.preset if specs[env].builtin else None)
        table = pd.concat([measure_family(env, args.preset, spec=specs[env]) for env in args.envs], ignore_index=True)
        table = apply_best_known(table, pd.read_csv(BEST_KNOWN))
    except (ValueError, ReferenceError) as err:
        print(f"distral_repro.reference: error: {err}", file=sys.stderr)
        return 2
    atomic_write_csv(args.out, table)
    summary = table.groupby("env", sort=False)[["random_return", "upper_return", "random_episodes"]].mean()
    print(summary.to_string(float_format=lambda x: f"{x:.4g}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
