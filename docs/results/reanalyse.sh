#!/usr/bin/env bash
# Re-run the aggregation (the current statistics, config/claims.yaml) on a published study's run
# files, outside the repository (docs/statistics.md, "The four stored studies re-analysed"):
#   bash docs/results/reanalyse.sh docs/results/default_grid WORKDIR
# extracts runs.tar.xz into WORKDIR and writes WORKDIR/results_new/ (claims.md, tables/, ...).
# The stored studies have no A/A runs of their own: the A/A check there compares A3C_2col's maze
# confirmation seeds 4-5 with its seeds 6-7 (the same setting).
set -euo pipefail
study=$(cd "$1" && pwd)
repo=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$2"
cd "$2"
tar -xJf "$study/runs.tar.xz"
runs=$(find results/runs -name summary.json -printf '%h\n' | sort)
confirmation=$(find results/confirmation -name summary.json -printf '%h\n' | sort | sed 's/^/--confirmation /')
aa=$(find results/confirmation/maze/A3C_2col -name summary.json -printf '%h\n' | sort | grep -E 'seed(6|7)$' | sed 's/^/--aa /')
gridworld=$(find results/gridworld -name summary.json -printf '%h\n' | sort)
# shellcheck disable=SC2086  # one word per run directory (no spaces in run directory names)
python -m distral_repro.analysis.aggregate --results-dir results_new --references "$study/reference_scores.csv" \
    --claims "$repo/config/claims.yaml" $confirmation $aa --gridworld $gridworld -- $runs
