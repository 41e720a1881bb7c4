"""Counter-based random streams: one independent uniform stream per environment.

Each environment owns a counter-based random stream (SplitMix64 of `key + counter`),
seeded from its own integer seed. A stream is advanced by a fixed number of draws per
step regardless of which other environments are batched with it, so environment `j` of
a batch reset with `seed` follows exactly the same trajectory as a single environment
reset with `seed + j` (gymnasium's convention for vector seeds). A
`numpy.random.Generator` per environment would need a Python loop per step.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser, elementwise on uint64 (wrapping arithmetic is intended)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _MIX1
    x = x ^ (x >> np.uint64(27))
    x = x * _MIX2
    return x ^ (x >> np.uint64(31))


def seed_keys(seeds: np.ndarray) -> np.ndarray:
    """Per-environment stream keys from integer seeds: (N,) int -> (N,) uint64."""
    seeds = np.asarray(seeds, dtype=np.int64).astype(np.uint64)
    return splitmix64(splitmix64(seeds + _GOLDEN))


class CounterStreams:
    """One independent uniform random stream per environment, advanced in lock-step.

    `uniform(rows, k)` returns (len(rows), k) floats in [0, 1) and advances the streams
    of `rows` by k draws; the values depend only on each row's key and counter.
    """

    def __init__(self, num_envs: int):
        self.keys = np.zeros(num_envs, dtype=np.uint64)
        self.counters = np.zeros(num_envs, dtype=np.uint64)

    def seed(self, rows: np.ndarray, seeds: np.ndarray) -> None:
        self.keys[rows] = seed_keys(seeds)
        self.counters[rows] = 0

    def uniform(self, rows: np.ndarray | slice, k: int) -> np.ndarray:
        counters = self.counters[rows]
        steps = counters[:, None] + np.arange(k, dtype=np.uint64)
        bits = splitmix64(self.keys[rows][:, None] + steps * _GOLDEN)
        self.counters[rows] = counters + np.uint64(k)
        return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
