"""The confirmation stage's seed count against the power of each primary test (issue 30).

    python docs/results/power_design/power.py > docs/results/power_design/power.md

For every shape of primary test in config/claims.yaml (k comparisons that must all show the
effect: the intersection-union rule of `claims.py`), the smallest P(run of X > run of Y) that
the test detects with 80% power at n seeds per algorithm, simulated by the package's own
power function (`calibration.location_power`, Welch's t on run scores, 2,000 simulated studies
per point) at Holm's strictest level (0.05 / 11, the test with the smallest p-value) and its
most lenient (0.05, the last test). On run scores, P(X > Y) = Phi(shift / (sqrt 2 sd)), so the
answer in units of P does not depend on the noise's size; the parts share X's runs only where
the claim's X is shared (C1, C5's first test: one Distral, several baselines), as here.
"""

from __future__ import annotations

import numpy as np

from distral_repro.analysis import calibration

SEEDS = (4, 8, 12, 16, 20, 24, 32, 48, 64)
SHAPES = {  # name: (env, X, Y) parts
    "1 comparison (C5 Distral vs A3C, C6 paired ~, C7)": (("e", "X", "Y"),),
    "2 comparisons, one X (C5 A3C strongest)": (("e", "X", "Y1"), ("e", "X", "Y2")),
    "6 comparisons: 2 envs x 3 baselines, one X (C1)": tuple((e, "X", y) for e in "ab" for y in ("Y1", "Y2", "Y3")),
    "6 comparisons: 3 envs x 2 pairs (C2, C3)": tuple((e, x, y) for e in "abc" for x, y in (("X1", "Y1"), ("X2", "Y2"))),
}
LEVELS = {"0.05/11": 0.05 / 11, "0.05": 0.05}


def noise_for(envs) -> dict:
    unit = calibration.NoiseModel(1.0, 0.0, 1, np.zeros((1, 1)))
    return {e: unit for e in envs}


def main() -> None:
    print("| test shape | level | " + " | ".join(f"{n} seeds" for n in SEEDS) + " |")
    print("|---|---|" + "---|" * len(SEEDS))
    for name, parts in SHAPES.items():
        keys = {(e, a) for e, x, y in parts for a in (x, y)}
        design = calibration.Design(parts, {k: 4 for k in sorted(keys)})
        noise = noise_for({e for e, _ in keys})
        for label, level in LEVELS.items():
            cells = []
            for n in SEEDS:
                p = calibration.smallest_detectable(
                    lambda prob: calibration.location_power(design, noise, prob, level, runs=n))
                cells.append(f"{p:.3f}" if np.isfinite(p) else "> 0.9999")
            print(f"| {name} | {label} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
