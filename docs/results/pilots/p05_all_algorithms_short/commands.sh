#!/usr/bin/env bash
# Pilot 05: all seven algorithms at the default (stage-1) budget with the settings of pilots
# 01-03 (RMSProp eps 1e-7, bootstrap at the time limit), lr 4e-3, beta 1000, seed 0, on maze
# (48k steps per task) and laser tag (40k).
set -euo pipefail
p=docs/results/pilots
out=$p/p05_all_algorithms_short/runs
for env in maze lasertag; do
  steps=$([ $env = maze ] && echo 48000 || echo 40000)
  for algo in A3C A3C_multitask A3C_2col KL_1col KL+ent_1col KL_2col KL+ent_2col; do
    bash $p/run_pilot.sh $out/${env}_$algo $algo $env 1000 4e-3 0 $steps \
        --hyper rmsprop_eps=1e-7 --hyper bootstrap_time_limit=true
  done
done
