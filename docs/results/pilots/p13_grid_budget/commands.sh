#!/usr/bin/env bash
# Pilot 13: which stage-1 (grid) budget puts separate A3C's best learning rate inside the grid?
# Separate A3C on maze and laser tag, every (beta, lr) of the default grid, seeds 0-3, at 1.5x the
# earlier grid budgets (72k / 60k steps per task); plus KL+ent_2col on laser tag at lr 2e-3 and 4e-3
# (the best Distral variant's closest call there). cut.py cuts every curve at the steps of the
# 0.8x (published), 1.0x and 1.25x budgets (a shorter run is the first part of a longer one).
# Run from the repository root; two jobs at a time on a 2-core host, nothing else running.
set -euo pipefail
out=${1:-pilot_runs/p13}
{
for env in maze lasertag; do for beta in 300 1000 3000; do for lr in 2e-3 4e-3 8e-3; do for seed in 0 1 2 3; do
    echo "$env A3C $beta $lr $seed"
done; done; done; done
for beta in 300 1000 3000; do for lr in 2e-3 4e-3; do for seed in 0 1 2 3; do
    echo "lasertag KL+ent_2col $beta $lr $seed"
done; done; done
} | xargs -P 2 -L 1 sh -c \
    'case "$0" in maze) steps=72000;; lasertag) steps=60000;; esac;
     bash docs/results/pilots/run_pilot.sh "'"$out"'/runs/$0/$1/beta$2_lr$3_seed$4" "$1" "$0" "$2" "$3" "$4" "$steps" --preset default --threads 1'
