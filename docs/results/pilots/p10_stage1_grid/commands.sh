#!/usr/bin/env bash
# Pilot 10: the whole default workflow at commit a0c86a5 (one stage; budgets 48k / 96k / 40k
# env steps per task), run from a fresh clone; then the two-stage code on top of its grid.
set -euo pipefail
clone=$(mktemp -d)
git clone -q . "$clone" && git -C "$clone" checkout -q a0c86a5
cd "$clone"
/usr/bin/time -f "WALL %e USER %U SYS %S" snakemake --cores all > grid.log 2>&1
# What would the grid choose at 0.8 and 2/3 of those budgets? (prefixes of the same runs)
python "$OLDPWD/docs/results/pilots/p10_stage1_grid/truncate.py" results results/reference_scores.csv truncation
# Stage 2 on this grid: the two-stage code, its grid runs kept (they are complete).
git pull -q "$OLDPWD" main
/usr/bin/time -f "WALL %e USER %U SYS %S" snakemake --cores all --rerun-triggers mtime > stage2.log 2>&1
