#!/usr/bin/env bash
# Pilot 04: navigation map size (15 today) at RMSProp eps 1e-7, lr 4e-3 (maze's best in pilot 02):
# sizes 11, 13, 15; A3C and KL+ent_2col; 384k env steps per task (4x default), seed 0, beta 1000.
# Each size has its own reference scores (references_sizeN.csv).
set -euo pipefail
p=docs/results/pilots
here=$p/p04_navigation_size
for size in 11 13 15; do
  python $p/with_env_settings.py default navigation.size=$size -- distral_repro.reference --preset default \
      --out $here/references_size$size.csv navigation
  for algo in A3C KL+ent_2col; do
    dir=$here/runs/size${size}_$algo
    [ -f $dir/summary.json ] && continue
    mkdir -p $dir
    /usr/bin/time -f "%U %S" -o $dir.time python $p/with_env_settings.py default navigation.size=$size -- \
        distral_repro.train --algo $algo --env navigation --beta 1000 --lr 4e-3 --seed 0 --steps-per-task 384000 \
        --hyper rmsprop_eps=1e-7 --out $dir --quiet
    mv $dir.time $dir/time.txt
  done
done
