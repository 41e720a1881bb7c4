#!/usr/bin/env bash
# Copy what a finished `snakemake --cores all` wrote into this folder (run from the study's
# checkout):  bash docs/results/default_grid/publish.sh [STUDY_CHECKOUT] [DEST]
# Tables, claims, metrics, reference scores, the selection, figures as PNG, the run files of
# both stages without checkpoints (runs.tar.xz: enough to rerun the aggregation), the commit,
# and the targets of issue 13 (targets.py).
set -euo pipefail
src=${1:-.}
dest=$(mkdir -p "${2:-$(dirname "$0")}" && cd "${2:-$(dirname "$0")}" && pwd)
test -f "$src/results/claims.md" || { echo "no finished study in $src (results/claims.md missing)" >&2; exit 1; }
bash "$(dirname "$0")/../publish_outputs.sh" "$src" "$dest"
# The study's runs only (the list its last invocation planned: `status --runs`), not what an
# older study may have left in the same results/.
# Also the definitions of your own families (results/runs/NAME/family.yaml).
(cd "$src" && { python -m distral_repro.status --runs | while read -r run; do
    find "$run" -maxdepth 1 -type f \( -name '*.csv' -o -name summary.json \)
done; find results/runs -mindepth 2 -maxdepth 2 -name family.yaml; } | sort | tar -cJf "$dest/runs.tar.xz" -T -)
python "$(dirname "$0")/targets.py" "$dest/tables" "$dest/targets.csv"
