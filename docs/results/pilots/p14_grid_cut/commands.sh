#!/usr/bin/env bash
# Pilot 14: the published grid (docs/results/default_grid_1.5x/, commit cf55fb9) cut at 1.0x / 1.25x on
# maze and laser tag. No training: the runs of the published study are reused. From the repository root:
set -euo pipefail
scratch=$(mktemp -d)
tar -xJf docs/results/default_grid_1.5x/runs.tar.xz -C "$scratch"
python docs/results/pilots/p14_grid_cut/cut.py "$scratch" docs/results/default_grid_1.5x/reference_scores.csv \
    docs/results/default_grid_1.5x/tables docs/results/pilots/p14_grid_cut > docs/results/pilots/p14_grid_cut/cut.txt
