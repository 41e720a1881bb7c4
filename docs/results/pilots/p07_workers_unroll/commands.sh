#!/usr/bin/env bash
# Pilot 07: workers per task (8, 16, 32) and unroll (10 vs 20) with the adopted settings
# (eps 1e-7, bootstrap: the defaults since pilot 06); maze, lr 4e-3, beta 1000, seed 0, 192k
# env steps per task. Learning per core-second is the question, so core-seconds matter here.
set -euo pipefail
p=docs/results/pilots
out=$p/p07_workers_unroll/runs
for algo in A3C KL+ent_2col; do
  for workers in 8 16 32; do
    bash $p/run_pilot.sh $out/maze_${algo}_w${workers}_u20 $algo maze 1000 4e-3 0 192000 --workers $workers
  done
  bash $p/run_pilot.sh $out/maze_${algo}_w16_u10 $algo maze 1000 4e-3 0 192000 --unroll 10
done
