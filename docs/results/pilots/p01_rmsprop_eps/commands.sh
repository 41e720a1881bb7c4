#!/usr/bin/env bash
# Pilot 01: RMSProp eps (1e-5 today) against smaller eps, separate A3C and KL+ent_2col on maze,
# 4x the default steps per task, seed 0, beta 1000. Run from the repository root.
set -euo pipefail
out=docs/results/pilots/p01_rmsprop_eps/runs
for algo in A3C KL+ent_2col; do
  for setting in "1e-5 8e-3" "1e-7 8e-3" "1e-7 2e-3" "1e-7 5e-4"; do
    set -- $setting
    dir=$out/${algo}_eps$1_lr$2
    mkdir -p $dir
    /usr/bin/time -f "%U %S" -o $dir.time python -m distral_repro.train --algo $algo --env maze --beta 1000 \
        --lr $2 --seed 0 --steps-per-task 192000 --hyper rmsprop_eps=$1 --out $dir --quiet
    mv $dir.time $dir/time.txt
  done
done
