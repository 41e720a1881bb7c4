"""Rerun a published training run and compare its files byte for byte.

    python -m distral_repro.verify results/runs/maze/A3C/beta1000_lr4e-3_seed0
    python -m distral_repro.verify --archive docs/results/default_grid/runs.tar.xz \\
        results/confirmation/maze/KL+ent_2col/beta1000_lr4e-3_seed4

Reads the run's ``summary.json`` (its resolved config: algorithm, family, budget, settings,
seed), trains the same run afresh in a temporary directory and compares ``progress.csv`` and
``pi0_eval.csv`` with the run's own. In the portable numeric mode (the default) they are
identical on any x86-64 CPU with AVX2 (docs/numerics.md); a run recorded in
another mode, or before the modes existed, is named as such. Exit 0 when every file is
identical, 1 when one differs, 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile
import tempfile
from pathlib import Path

from distral_repro import numerics
from distral_repro.config import Budget, RunConfig, hyper_from_record

COMPARED = ("progress.csv", "pi0_eval.csv")


class VerifyError(ValueError):
    """A run that cannot be verified (missing or unreadable files)."""


def config_from_summary(summary: dict) -> RunConfig:
    """The RunConfig that a summary.json records."""
    c = summary["config"]
    return RunConfig(
        algo=c["algo"], env=c["env"], beta=c["beta"], lr=c["lr"], seed=c["seed"], preset=c["preset"],
        budget=Budget(**c["budget"]), hyper=hyper_from_record(c["hyper"]), family=c.get("family"),
        view=c.get("view", "window"), image_size=c.get("image_size", 32),
    )


def first_difference(a: bytes, b: bytes) -> str | None:
    """None if equal, else where two text files first differ (line number, both lines)."""
    if a == b:
        return None
    lines_a, lines_b = a.decode().splitlines(), b.decode().splitlines()
    for i, (x, y) in enumerate(zip(lines_a, lines_b), start=1):
        if x != y:
            return f"line {i}: {x!r} != {y!r}"
    return f"{len(lines_a)} lines != {len(lines_b)} lines"


def read_published(run: str, archive: str | None) -> dict[str, bytes]:
    """The published files of `run` (a directory, or a member folder of a .tar.xz archive)."""
    wanted = ("summary.json", *COMPARED)
    if archive is None:
        files = {name: (Path(run) / name).read_bytes() for name in wanted if (Path(run) / name).is_file()}
    else:
        try:
            with tarfile.open(archive) as tar:
                files = {}
                for name in wanted:
                    try:
                        member = tar.extractfile(f"{run.rstrip('/')}/{name}")
                    except KeyError:
                        continue
                    files[name] = member.read()
        except (OSError, tarfile.TarError) as error:
            raise VerifyError(f"cannot read archive {archive}: {error}") from None
    where = f"{run} in {archive}" if archive else run
    for name in ("summary.json", "progress.csv"):
        if name not in files:
            raise VerifyError(f"{where} has no {name}: not a run directory")
    return files


def verify(run: str, archive: str | None = None, out=None) -> bool:
    """Rerun `run` and print one line per compared file; True when all are identical."""
    out = sys.stdout if out is None else out  # looked up per call (pytest swaps sys.stdout)
    from distral_repro import train

    published = read_published(run, archive)
    try:
        summary = json.loads(published["summary.json"])
        config = config_from_summary(summary)
    except (ValueError, KeyError, TypeError) as error:
        raise VerifyError(f"{run}: summary.json does not record a run's config ({error})") from None
    made_in = (summary.get("numerics") or {}).get("mode", "none recorded (made before numeric modes)")
    print(f"rerunning {config.env}/{config.algo} beta={config.beta:g} lr={config.lr:g} seed={config.seed} "
          f"({config.budget.steps_per_task} steps per task; recorded numeric mode: {made_in}, "
          f"this process: {numerics.active_mode()})", file=out, flush=True)
    if made_in != numerics.active_mode():
        print(f"note: the run was made in numeric mode {made_in}; bytes are promised only within one mode",
              file=out)
    with tempfile.TemporaryDirectory() as scratch:
        rerun = Path(scratch) / "run"
        train.run(config, rerun, threads=1, quiet=True)
        same = True
        for name in COMPARED:
            mine = (rerun / name).read_bytes() if (rerun / name).exists() else None
            theirs = published.get(name)
            if mine is None and theirs is None:
                continue
            if mine is None or theirs is None:
                print(f"{name}: only in the {'published run' if mine is None else 'rerun'}", file=out)
                same = False
                continue
            diff = first_difference(theirs, mine)
            print(f"{name}: {'identical' if diff is None else 'differs, ' + diff}", file=out)
            same = same and diff is None
    return same


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distral_repro.verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a run directory, or with --archive its folder inside the archive")
    parser.add_argument("--archive", help="a published runs.tar.xz holding the run")
    args = parser.parse_args(argv)
    try:
        return 0 if verify(args.run, args.archive) else 1
    except VerifyError as error:
        print(f"distral_repro.verify: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
