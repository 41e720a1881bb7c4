#!/usr/bin/env bash
# Pilot 12: is 8e-3 the best rate of the per-task-network algorithms, or does the grid cut it off?
# The published grid's runs (docs/results/default_grid_0.8x/runs.tar.xz) plus lr 1.6e-2 for separate A3C
# and KL_1col on maze and laser tag, every beta, seeds 0-3, the default preset (grid budgets).
# Run from the repository root; two jobs at a time on a 2-core host, nothing else running.
set -euo pipefail
out=${1:-pilot_runs/p12}
for env in maze lasertag; do for algo in A3C KL_1col; do for beta in 300 1000 3000; do for seed in 0 1 2 3; do
    echo "$env $algo $beta $seed"
done; done; done; done | xargs -P 2 -L 1 sh -c \
    'python -m distral_repro.train --algo "$1" --env "$0" --beta "$2" --lr 1.6e-2 --seed "$3" --preset default --threads 1 \
         --out "'"$out"'/runs/$0/$1/beta$2_lr1.6e-2_seed$3" > /dev/null'
