#!/usr/bin/env bash
# Copy a finished study's outputs into a folder of docs/results (each study's publish.sh calls it):
#   bash docs/results/publish_outputs.sh STUDY_DIR DEST
# Tables, claims, metrics, reference scores, the selection, figures as PNG and the commit.
set -euo pipefail
src=$1
dest=$2
rm -rf "$dest/tables" "$dest/figures" "$dest/selection"
mkdir -p "$dest/tables" "$dest/figures" "$dest/selection"
cp "$src"/results/tables/* "$dest/tables/"
cp "$src"/results/claims.md "$src"/results/claims.csv "$src"/results/metrics.json \
   "$src"/results/reference_scores.csv "$dest/"
cp "$src"/results/selection/*.csv "$dest/selection/"
cp "$src"/paper_figures/*.png "$dest/figures/"
git -C "$src" rev-parse HEAD > "$dest/COMMIT"
