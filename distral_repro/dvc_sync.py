"""Put results fetched by DVC back in pipeline order, so Snakemake retrains nothing.

Snakemake decides what to rerun by modification times: a job is rerun when one of its
outputs is older than one of its inputs. `dvc pull` and `dvc checkout` write files with
the time of the pull, in no particular order, so after a pull Snakemake may find a table
older than some run file and rebuild it, or not, by chance; and a run file older than a
source file it depends on would even be retrained. Run this after `dvc pull` (or
`git checkout REV && dvc checkout`) and before Snakemake:

- every file and directory of the training outputs (`results/runs/`, `results/confirmation/`,
  `results/gridworld/`) gets the current time: newer than every source and config file, so no
  training job is out of date;
- every other file and directory under `results/` and `paper_figures/` (tables, metrics,
  claims, figures, the selection) gets a time two seconds earlier: older than every run, so
  Snakemake rebuilds these derived outputs from the fetched runs whenever they are asked for.
  The confirmation runs do not depend on the selection's file (their settings come from the
  checkpoint, not an input), so a selection made again retrains none of them.

The outcome no longer depends on the order in which DVC happened to write the files:

    dvc pull
    python -m distral_repro.dvc_sync
    snakemake --cores all paper_figures/fig4_maze.pdf --rerun-triggers mtime

(`--rerun-triggers mtime` matters after `dvc checkout` of an older revision in a working
copy that has run Snakemake before: Snakemake's own records under `.snakemake/` then hold
the newer revision's parameters and would ask for retraining.)

With DVC's `symlink` or `hardlink` cache types the times of the cache files are changed
(they are the same inodes); the default `reflink,copy` gives every file its own.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# What the training jobs write (docs/contracts.md "Run directory"), both stages and the grid
# world: never to be redone.
RUN_OUTPUTS = ("results/runs", "results/confirmation", "results/gridworld")
# Everything else under these is computed from the runs by the aggregation and figure rules.
DERIVED_ROOTS = ("results", "paper_figures")

# Derived outputs are made this much older than the runs: whole seconds, so that file
# systems with coarse time stamps (1 s, or FAT's 2 s) still see a strict order.
DERIVED_AGE_S = 2.0


@dataclass(frozen=True)
class SyncCounts:
    """How many paths were given each time (files and directories alike)."""

    run_paths: int
    derived_paths: int


def _walk(top: Path):
    """Yield `top` and every file and directory below it (not following symlinks)."""
    yield top
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            yield Path(dirpath) / name


def _is_within(path: Path, parents: list[Path]) -> bool:
    return any(path == parent or parent in path.parents for parent in parents)


def order_mtimes(root: str | os.PathLike, now: float | None = None) -> SyncCounts:
    """Give the training outputs under `root` time `now` and derived outputs `now - 2 s`.

    `root` is the repository root. Raises FileNotFoundError, changing nothing, when
    none of RUN_OUTPUTS exists there (nothing was pulled, or not the repository root).
    """
    root = Path(root)
    now = time.time() if now is None else now
    run_tops = [root / rel for rel in RUN_OUTPUTS if (root / rel).exists()]
    if not run_tops:
        raise FileNotFoundError(
            f"no training outputs under {root.resolve()}: expected "
            + " or ".join(f"{rel}/" for rel in RUN_OUTPUTS)
            + "; run this from the repository root after `dvc pull` or `dvc checkout`"
        )

    derived_time = now - DERIVED_AGE_S
    derived = 0
    for rel in DERIVED_ROOTS:
        top = root / rel
        if not top.exists():
            continue
        for path in _walk(top):
            # A run directory's parents (results/ itself) count as derived: Snakemake
            # never compares a directory that merely contains outputs.
            if not _is_within(path, run_tops):
                os.utime(path, (derived_time, derived_time), follow_symlinks=True)
                derived += 1

    runs = 0
    for top in run_tops:
        for path in _walk(top):
            os.utime(path, (now, now), follow_symlinks=True)
            runs += 1
    return SyncCounts(run_paths=runs, derived_paths=derived)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m distral_repro.dvc_sync",
        description=(
            "After `dvc pull` or `dvc checkout`: make the training outputs ("
            + ", ".join(RUN_OUTPUTS)
            + ") newer than everything else, so Snakemake rebuilds tables and figures "
            "from them and retrains nothing."
        ),
    )
    parser.add_argument("--root", default=".", help="repository root (default: the current directory)")
    args = parser.parse_args(argv)
    try:
        counts = order_mtimes(args.root)
    except FileNotFoundError as err:
        print(f"dvc_sync: {err}", file=sys.stderr)
        return 2
    print(
        f"dvc_sync: {counts.run_paths} training-output paths marked newest, "
        f"{counts.derived_paths} derived paths marked older: Snakemake will rebuild "
        "tables and figures from the runs and retrain nothing."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
