"""`python -m distral_repro.bench envs|train`: speed and memory benchmarks."""

import importlib
import sys

BENCHMARKS = {
    "envs": "distral_repro.bench.envs",
    "train": "distral_repro.bench.train",
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
