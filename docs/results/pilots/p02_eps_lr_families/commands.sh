#!/usr/bin/env bash
# Pilot 02: bracket the learning rate at RMSProp eps 1e-7 on maze (A3C, KL+ent_2col), and the
# eps change on navigation and laser tag; 4x the default steps per task, seed 0, beta 1000.
set -euo pipefail
p=docs/results/pilots
out=$p/p02_eps_lr_families/runs
for algo in A3C KL+ent_2col; do
  for lr in 1e-3 4e-3; do
    bash $p/run_pilot.sh $out/maze_${algo}_eps1e-7_lr$lr $algo maze 1000 $lr 0 192000 --hyper rmsprop_eps=1e-7
  done
done
for algo in A3C KL+ent_2col; do
  for setting in "1e-5 8e-3" "1e-7 2e-3"; do
    set -- $setting
    bash $p/run_pilot.sh $out/navigation_${algo}_eps$1_lr$2 $algo navigation 1000 $2 0 384000 --hyper rmsprop_eps=$1
    bash $p/run_pilot.sh $out/lasertag_${algo}_eps$1_lr$2 $algo lasertag 1000 $2 0 160000 --hyper rmsprop_eps=$1
  done
done
