#!/usr/bin/env bash
# Pilot 08: unroll 10 vs 20 on navigation (11x11 maps, the default since pilot 06) and laser
# tag, and a second seed on maze; A3C and KL+ent_2col, the adopted settings, lr 4e-3,
# beta 1000, 4x the default steps per task.
set -euo pipefail
p=docs/results/pilots
out=$p/p08_unroll_families/runs
for algo in A3C KL+ent_2col; do
  for unroll in 10 20; do
    bash $p/run_pilot.sh $out/navigation_${algo}_u$unroll $algo navigation 1000 4e-3 0 384000 --unroll $unroll
    bash $p/run_pilot.sh $out/lasertag_${algo}_u$unroll $algo lasertag 1000 4e-3 0 160000 --unroll $unroll
    bash $p/run_pilot.sh $out/maze_${algo}_u${unroll}_seed1 $algo maze 1000 4e-3 1 192000 --unroll $unroll
  done
done
