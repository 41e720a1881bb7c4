#!/usr/bin/env bash
# Copy the long-horizon study (config/long_horizon.yaml) here, while it runs and once it is done
# (run from the repository's root):  bash docs/results/long_horizon/publish.sh [STUDY_DIR] [DEST]
# runs/: every finished run's summary.json, progress.csv and pi0_eval.csv (no checkpoint), at the
# path the study wrote it (results/confirmation/...): commit them as they finish; a later session
# copies runs/ back into the study directory and resumes (docs/workflow.md, "A long-horizon study").
# Once the study is complete (results/claims.md): also its claims, metrics, tables, selection,
# reference scores, figures as PNG and the commit.
set -euo pipefail
src=${1:-studies/long_horizon}
dest=$(mkdir -p "${2:-$(dirname "$0")}" && cd "${2:-$(dirname "$0")}" && pwd)
test -d "$src/results/confirmation" || { echo "no runs in $src (results/confirmation missing)" >&2; exit 1; }
mkdir -p "$dest/runs"
(cd "$src" && find results/confirmation -name summary.json | sort | while read -r summary; do
    for name in summary.json progress.csv pi0_eval.csv; do
        if test -f "$(dirname "$summary")/$name"; then echo "$(dirname "$summary")/$name"; fi
    done
done | tar -cf - -T -) | tar -xf - -C "$dest/runs"
echo "$(find "$dest/runs" -name summary.json | wc -l) finished runs in $dest/runs"
test -f "$src/results/claims.md" || exit 0
bash "$(dirname "$0")/../publish_outputs.sh" "$src" "$dest"
