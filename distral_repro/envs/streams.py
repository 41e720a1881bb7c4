"""Counter-based random streams: one independent uniform stream per environment.

Each environment owns a counter-based random stream (SplitMix64 of `key + counter * G`,
G the golden-ratio constant). Its 64-bit key derives from the pair (seed, environment
index) through numpy's `SeedSequence`: the key of environment j under seed s is the state
of `SeedSequence(s).spawn(n)[j]` (`SeedSequence(s, spawn_key=(j,))`), so no two seeds
share a stream (an earlier key of `seed + j` made seed 1's environment 0 replay seed 0's
environment 1). A stream is advanced by a fixed number of draws per step regardless of
which other environments are batched with it, so environment j of a batch follows the
same trajectory as a single environment given the same (seed, j). A
`numpy.random.Generator` per environment would need a Python loop per step.

Two streams with keys k and k' meet only if (k - k') / G (mod 2**64) is smaller than the
number of draws; `stream_offsets` gives each stream's start on that common circle, so the
gap between neighbouring starts is how many draws the streams can make before any overlap.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_GOLDEN_INVERSE = np.uint64(pow(0x9E3779B97F4A7C15, -1, 2**64))
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser, elementwise on uint64 (wrapping arithmetic is intended)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _MIX1
    x = x ^ (x >> np.uint64(27))
    x = x * _MIX2
    return x ^ (x >> np.uint64(31))


def stream_keys(seeds: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Stream keys from (seed, environment index) pairs: (N,), (N,) ints >= 0 -> (N,) uint64.

    Key j of seed s is the first 64-bit word of `SeedSequence(s).spawn(j + 1)[j]`.
    """
    seeds = np.asarray(seeds, dtype=np.int64).ravel()
    indices = np.asarray(indices, dtype=np.int64).ravel()
    if seeds.shape != indices.shape:
        raise ValueError(f"one environment index per seed, got {seeds.size} seeds and {indices.size} indices")
    if seeds.size and (seeds.min() < 0 or indices.min() < 0):
        raise ValueError("seeds and environment indices must be non-negative integers")
    return np.array(
        [np.random.SeedSequence(int(s), spawn_key=(int(j),)).generate_state(1, np.uint64)[0] for s, j in zip(seeds, indices)],
        dtype=np.uint64,
    ).reshape(seeds.shape)


def stream_offsets(keys: np.ndarray) -> np.ndarray:
    """Where each stream starts on the common SplitMix64 input circle: key / G mod 2**64.

    The stream with key k feeds `k + c * G = G * (k / G + c)` at counter c, so two streams
    share inputs exactly when their offsets lie fewer than their draw counts apart.
    """
    return np.asarray(keys, dtype=np.uint64) * _GOLDEN_INVERSE


def min_stream_gap(keys: np.ndarray) -> int:
    """The fewest draws after which two of these streams would reach each other's inputs."""
    offsets = np.sort(stream_offsets(keys))
    if offsets.size < 2:
        return 2**64
    gaps = np.diff(offsets)  # uint64: exact
    wrap = int(offsets[0]) + 2**64 - int(offsets[-1])
    return min(int(gaps.min()), wrap)


class CounterStreams:
    """One independent uniform random stream per environment, advanced in lock-step.

    `uniform(rows, k)` returns (len(rows), k) floats in [0, 1) and advances the streams
    of `rows` by k draws; the values depend only on each row's key and counter.
    """

    def __init__(self, num_envs: int):
        self.keys = np.zeros(num_envs, dtype=np.uint64)
        self.counters = np.zeros(num_envs, dtype=np.uint64)

    def seed(self, rows: np.ndarray, seeds: np.ndarray, indices: np.ndarray) -> None:
        """Key the streams of `rows` by (seeds, indices) pairs and rewind them."""
        self.keys[rows] = stream_keys(seeds, indices)
        self.counters[rows] = 0

    def uniform(self, rows: np.ndarray | slice, k: int) -> np.ndarray:
        counters = self.counters[rows]
        steps = counters[:, None] + np.arange(k, dtype=np.uint64)
        bits = splitmix64(self.keys[rows][:, None] + steps * _GOLDEN)
        self.counters[rows] = counters + np.uint64(k)
        return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
