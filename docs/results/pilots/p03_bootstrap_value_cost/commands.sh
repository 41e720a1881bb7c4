#!/usr/bin/env bash
# Pilot 03: on top of RMSProp eps 1e-7 and lr 2e-3 (pilots 01-02): bootstrapping at the time
# limit, and a value-loss weight of 1.0 (0.5 (G - V)^2, the weight the README stated) instead
# of 0.5; maze, 4x the default steps per task, seed 0, beta 1000. Baselines: pilot 01's
# A3C_eps1e-7_lr2e-3 and pilot 02's maze_KL+ent_2col runs.
set -euo pipefail
p=docs/results/pilots
out=$p/p03_bootstrap_value_cost/runs
for algo in A3C KL+ent_2col; do
  bash $p/run_pilot.sh $out/maze_${algo}_bootstrap $algo maze 1000 2e-3 0 192000 \
      --hyper rmsprop_eps=1e-7 --hyper bootstrap_time_limit=true
  bash $p/run_pilot.sh $out/maze_${algo}_value1 $algo maze 1000 2e-3 0 192000 \
      --hyper rmsprop_eps=1e-7 --hyper value_cost=1.0
done
