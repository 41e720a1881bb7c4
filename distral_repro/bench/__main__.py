"""`python -m distral_repro.bench envs|train|jobs|learning|scheduler|units|seeds|recompute`: speed, memory, learning per core-second, live units, batching."""

import importlib
import sys

BENCHMARKS = {
    "envs": "distral_repro.bench.envs",
    "train": "distral_repro.bench.train",
    "jobs": "distral_repro.bench.jobs",
    "learning": "distral_repro.bench.learning",
    "scheduler": "distral_repro.bench.scheduler",
    "units": "distral_repro.bench.units",
    "seeds": "distral_repro.bench.seeds",
    "recompute": "distral_repro.bench.recompute",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in BENCHMARKS:
        print(f"usage: python -m distral_repro.bench {{{'|'.join(BENCHMARKS)}}} [options]", file=sys.stderr)
        return 2
    module = importlib.import_module(BENCHMARKS[argv[0]])
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
