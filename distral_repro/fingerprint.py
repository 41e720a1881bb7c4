"""Fingerprints of short training runs: what a run computes, as hashes to compare across CPUs.

    python -m distral_repro.fingerprint                      # print the fingerprints (JSON)
    python -m distral_repro.fingerprint --check tests/golden/numerics.json
    python -m distral_repro.fingerprint --write tests/golden/numerics.json
    python -m distral_repro.fingerprint --check tests/golden/numerics.json --runs maze/A3C lasertag/KL+ent_2col

A fingerprint trains every algorithm for a few updates (smoke preset, maze and laser tag,
the learner of ``train``), writes ``progress.csv`` and ``pi0_eval.csv`` as ``train`` does and
hashes them with the final parameters and optimiser state. In the portable numeric mode
(``numerics``) the hashes are the same on every x86-64 CPU with AVX2: the test suite checks
the committed ones on whatever CPU it runs, and under ``qemu-x86_64 -cpu max`` (another CPU).
``--check`` exits 1 naming every file that differs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

from distral_repro import numerics
from distral_repro.config import ALGORITHMS, make_run_config

#: (env, algorithms): every algorithm on maze (pi_0 evaluated where there is an h column),
#: laser tag for the fire action, the bots and its longer episodes.
CASES = (("maze", ALGORITHMS), ("lasertag", ("KL+ent_2col",)))
#: A few updates each, with an evaluation point every update (steps per task = workers x unroll).
BUDGET = {"steps_per_task": 400, "workers": 4, "unroll": 10}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tensor_bytes(tensors) -> bytes:
    return b"".join(t.detach().contiguous().numpy().tobytes() for t in tensors)


def fingerprint(algo: str, env: str, budget: dict | None = None) -> dict[str, str]:
    """Train one short run in a temporary directory; sha256 of its files and final state."""
    from distral_repro.learner import Learner
    from distral_repro.train import RunWriter

    config = make_run_config(algo, env, "1000", "4e-3", 0, "smoke", **(budget or BUDGET))
    learner = Learner(config)
    while not learner.done:
        learner.train_update()
    with tempfile.TemporaryDirectory() as tmp:
        RunWriter(Path(tmp), config, threads=1).progress(learner)
        files = {name: _sha256((Path(tmp) / name).read_bytes()) for name in ("progress.csv", "pi0_eval.csv")
                 if (Path(tmp) / name).exists()}
    return {
        **files,
        "parameters": _sha256(_tensor_bytes(learner.net.state_dict().values())),
        "optimizer": _sha256(_tensor_bytes(learner.optimizer.square_avg)),
    }


def run_names(cases=CASES) -> list[str]:
    """'env/algo' of every fingerprinted run."""
    return [f"{env}/{algo}" for env, algos in cases for algo in algos]


def fingerprints(cases=CASES, only: list[str] | None = None) -> dict[str, dict[str, str]]:
    """The fingerprint of every case (or of the runs named in `only`, 'env/algo')."""
    import torch

    torch.set_num_threads(1)
    numerics.check_active()
    return {f"{env}/{algo}": fingerprint(algo, env) for env, algos in cases for algo in algos
            if only is None or f"{env}/{algo}" in only}


def differences(mine: dict, golden: dict) -> list[str]:
    """'env/algo file' for every hash that differs or is missing on one side."""
    out = []
    for run in sorted(set(mine) | set(golden)):
        a, b = mine.get(run, {}), golden.get(run, {})
        out += [f"{run} {name}" for name in sorted(set(a) | set(b)) if a.get(name) != b.get(name)]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distral_repro.fingerprint", description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", metavar="JSON", help="compare with these fingerprints; exit 1 naming each difference")
    group.add_argument("--write", metavar="JSON", help="write the fingerprints to this file")
    parser.add_argument("--runs", nargs="+", metavar="ENV/ALGO", choices=run_names(),
                        help="only these runs (with --check: compared with their golden fingerprints alone)")
    args = parser.parse_args(argv)
    if args.runs and args.write:
        parser.error("--write writes every run's fingerprint: drop --runs")
    golden = None
    if args.check:
        try:
            golden = json.loads(Path(args.check).read_text())["runs"]
            if args.runs:
                golden = {run: golden.get(run, {}) for run in args.runs}
        except (OSError, ValueError, KeyError) as error:
            print(f"distral_repro.fingerprint: error: cannot read fingerprints {args.check}: {error}", file=sys.stderr)
            return 2
    result = {"numerics": numerics.describe(threads=1), "runs": fingerprints(only=args.runs)}
    text = json.dumps(result, indent=1, sort_keys=True) + "\n"
    if args.write:
        from distral_repro.runio import atomic_write_bytes

        atomic_write_bytes(Path(args.write), text.encode())
        print(f"wrote {len(result['runs'])} runs' fingerprints to {args.write}")
        return 0
    if golden is None:
        print(text, end="")
        return 0
    diff = differences(result["runs"], golden)
    cpu = result["numerics"]["cpu_capability"]
    if diff:
        print(f"{len(diff)} fingerprints differ from {args.check} ({numerics.active_mode()} mode, {cpu}): "
              + "; ".join(diff), file=sys.stderr)
        return 1
    print(f"all {sum(len(v) for v in golden.values())} fingerprints match {args.check} "
          f"({numerics.active_mode()} mode, {cpu})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
