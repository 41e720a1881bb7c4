#!/usr/bin/env bash
# Pilot 09: a second seed of navigation with today's defaults (11x11 maps, eps 1e-7,
# bootstrap), A3C and KL+ent_2col, lr 4e-3, beta 1000, 384k env steps per task.
set -euo pipefail
p=docs/results/pilots
out=$p/p09_navigation_seed1/runs
for algo in A3C KL+ent_2col; do
  bash $p/run_pilot.sh $out/navigation_${algo}_seed1 $algo navigation 1000 4e-3 1 384000
done
