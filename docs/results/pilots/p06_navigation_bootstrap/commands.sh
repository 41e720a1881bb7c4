#!/usr/bin/env bash
# Pilot 06: navigation at sizes 11 and 13 with the time-limit bootstrap (pilot 03) on top of
# eps 1e-7, lr 4e-3; A3C and KL+ent_2col, 384k env steps per task, seed 0, beta 1000. The
# reference scores of each size are pilot 04's.
set -euo pipefail
p=docs/results/pilots
here=$p/p06_navigation_bootstrap
for size in 11 13; do
  for algo in A3C KL+ent_2col; do
    dir=$here/runs/size${size}_$algo
    [ -f $dir/summary.json ] && continue
    mkdir -p $dir
    /usr/bin/time -f "%U %S" -o $dir.time python $p/with_env_settings.py default navigation.size=$size -- \
        distral_repro.train --algo $algo --env navigation --beta 1000 --lr 4e-3 --seed 0 --steps-per-task 384000 \
        --hyper rmsprop_eps=1e-7 --hyper bootstrap_time_limit=true --out $dir --quiet
    mv $dir.time $dir/time.txt
  done
done
