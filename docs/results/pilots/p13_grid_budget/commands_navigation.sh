#!/usr/bin/env bash
# Pilot 13, navigation (run after commands.sh, into the same directory): separate A3C, every
# (beta, lr) of the default grid, and KL+ent_2col at lr 4e-3 and 8e-3 (the best Distral
# variant's closest call there), seeds 0-3, at 1.5x the earlier grid budget (144k steps per task).
# Run from the repository root; two jobs at a time on a 2-core host, nothing else running.
set -euo pipefail
out=${1:-pilot_runs/p13}
{
for beta in 300 1000 3000; do for lr in 2e-3 4e-3 8e-3; do for seed in 0 1 2 3; do
    echo "navigation A3C $beta $lr $seed"
done; done; done
for beta in 300 1000 3000; do for lr in 4e-3 8e-3; do for seed in 0 1 2 3; do
    echo "navigation KL+ent_2col $beta $lr $seed"
done; done; done
} | xargs -P 2 -L 1 sh -c \
    'bash docs/results/pilots/run_pilot.sh "'"$out"'/runs/$0/$1/beta$2_lr$3_seed$4" "$1" "$0" "$2" "$3" "$4" 144000 --preset default --threads 1'
