#!/usr/bin/env bash
# Pilot 13, part 2: how fast is this host against the one that ran the published study?
# Reruns one setting (beta 1000, lr 4e-3, seed 0) of each env x algorithm of the published grid,
# two jobs at a time as `snakemake --cores all` runs them, nothing else running; host_speed.py
# compares each run's training-loop seconds with the published run of the same setting.
set -euo pipefail
out=${1:-pilot_runs/p13_host}
for env in maze navigation lasertag; do for algo in A3C A3C_multitask A3C_2col KL_1col KL+ent_1col KL_2col KL+ent_2col; do
    echo "$env $algo"
done; done | xargs -P 2 -L 1 sh -c \
    'case "$0" in maze) steps=38400;; navigation) steps=76800;; lasertag) steps=32000;; esac;
     bash docs/results/pilots/run_pilot.sh "'"$out"'/runs/$0/$1/beta1000_lr4e-3_seed0" "$1" "$0" 1000 4e-3 0 "$steps" --preset default --threads 1'
