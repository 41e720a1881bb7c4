#!/usr/bin/env bash
# Pilot 11: the confirmation stage's budgets (128k / 256k / 64k env steps per task) on its
# fresh seeds 4-7, for separate A3C and KL+ent_2col at the best settings pilot 10's grid
# chose (the partial grid: 380 of 756 runs; truncate.py). Two jobs at a time on two cores,
# nothing else running: the core-seconds are this host's.
set -euo pipefail
p=docs/results/pilots
out=$p/p11_confirmation_budgets/runs
jobs=()
for seed in 4 5 6 7; do
  jobs+=("maze A3C 300 4e-3 $seed 128000" "maze KL+ent_2col 1000 4e-3 $seed 128000"
         "navigation A3C 3000 4e-3 $seed 256000" "navigation KL+ent_2col 3000 8e-3 $seed 256000"
         "lasertag A3C 1000 4e-3 $seed 64000" "lasertag KL+ent_2col 300 4e-3 $seed 64000")
done
printf '%s\n' "${jobs[@]}" | xargs -P 2 -L 1 sh -c \
  'bash '"$p"'/run_pilot.sh '"$out"'/$0_$1_seed$4 $1 $0 $2 $3 $4 $5'
