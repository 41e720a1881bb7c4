#!/bin/sh
# Pilot 15: live units and output spread (python -m distral_repro.bench units), separate A3C,
# beta 1000, lr 4e-3, seed 0, one thread, one run at a time. SETTING is a label, the rest of
# the arguments are --hyper KEY=VALUE pairs (none: today's defaults).
#   sh docs/results/pilots/p15_units/run.sh before
#   sh docs/results/pilots/p15_units/run.sh after
set -e
label=$1; shift
out=docs/results/pilots/p15_units
for env in maze navigation lasertag; do
  python -m distral_repro.bench units --env "$env" --label "$label" "$@" --out "$out/units_${label}_${env}.csv"
done
python -m distral_repro.bench units --env doorkey --env-file docs/results/peers/families.yaml \
  --label "$label" "$@" --out "$out/units_${label}_doorkey.csv"
