#!/usr/bin/env bash
# Save a study interrupted at a session's end, to resume it on any machine:
#   bash docs/results/powered_rerun/pack.sh STUDY_CHECKOUT
# writes runs.tar.xz here (replacing the last save): the files of every finished run (grid, confirmation, A/A,
# grid world; no checkpoints: an unfinished run restarts, with the same bytes), the reference
# scores and the selection, with their modification times (so Snakemake, resuming, retrains
# nothing that is done: see README.md), and the forkserver log of the parts so far.
set -euo pipefail
src=$(cd "$1" && pwd)
dest=$(cd "$(dirname "$0")" && pwd)
cd "$src"
{
    find results/runs results/confirmation results/gridworld -name summary.json -printf '%h\n' 2>/dev/null |
        while read -r run; do find "$run" -maxdepth 1 -type f ! -name checkpoint.pt; done
    find results/runs -maxdepth 2 -name family.yaml 2>/dev/null
    ls results/reference_scores.csv results/selection/*.csv 2>/dev/null
} | sort -u | tar -cJf "$dest/runs.tar.xz" -T -
cp logs/forkserver.log "$dest/forkserver.log"  # every part so far, each from a "serving on" line
echo "$(tar -tJf "$dest/runs.tar.xz" | grep -c summary.json) finished runs in runs.tar.xz"
