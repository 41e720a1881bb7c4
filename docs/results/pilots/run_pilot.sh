#!/usr/bin/env bash
# One pilot run: python -m distral_repro.train with the core-seconds of the whole job
# (user + sys, start-up included) in RUN_DIR/time.txt. Run from the repository root:
#   bash docs/results/pilots/run_pilot.sh OUT_DIR ALGO ENV BETA LR SEED STEPS_PER_TASK [TRAIN ARGS ...]
set -euo pipefail
dir=$1 algo=$2 env=$3 beta=$4 lr=$5 seed=$6 steps=$7
shift 7
[ -f "$dir/summary.json" ] && exit 0
mkdir -p "$dir"
/usr/bin/time -f "%U %S" -o "$dir.time" python -m distral_repro.train --algo "$algo" --env "$env" --beta "$beta" \
    --lr "$lr" --seed "$seed" --steps-per-task "$steps" --out "$dir" --quiet "$@"
mv "$dir.time" "$dir/time.txt"
