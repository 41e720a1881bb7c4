#!/usr/bin/env bash
# The paper preset on a real (local) Slurm, cut by its time limit: for each built-in family one
# paper-preset job (KL+ent_2col, the costliest algorithm: two columns), lengthened to a few
# minutes with config key `steps_per_task`, under a 1-minute time limit; then the same command
# uncut on one core, sampled by measure.py (CPU time, memory, checkpoint and progress.csv sizes);
# then the files of the two compared. Run from the repository root, one family at a time:
#
#   export SLURM_CONF=... PATH=...     # python tests/slurm_cluster.py up DIR prints both
#   bash docs/results/paper_preset/run_demo.sh WORKDIR maze 115200
set -euo pipefail
work=$1 env=$2 steps=$3
repo=$(pwd)
here=$repo/docs/results/paper_preset
run=results/runs/$env/KL+ent_2col/beta1e3_lr4e-4_seed0
rm -rf "$work/$env" && mkdir -p "$work/$env"
for name in Snakefile rules config slurm profiles report; do
    [ -e "$name" ] && cp -r "$name" "$work/$env/"
done
cat > "$work/$env/demo.yaml" <<YAML
environments: [$env]
algorithms: [KL+ent_2col]
betas: ["1e3"]
lrs: ["4e-4"]
seeds: [0]
steps_per_task: {$env: $steps}
threads: 1
resources:
  train: {mem_mb: 2000, runtime: 1, total_minutes: 10}
  gridworld: {mem_mb: 500, runtime: 5}
YAML
cd "$work/$env"
start=$(date +%s)
OMP_NUM_THREADS=1 python -m snakemake --cores all --profile slurm --slurm-init-seconds-before-status-checks 2 \
    "$run/summary.json" --config preset=paper --configfile demo.yaml > snakemake.log 2>&1
echo "slurm: rc 0, $(( $(date +%s) - start )) s"
sacct -X -a -n -P -S now-1days -o JobIDRaw,State,Elapsed,Comment | grep "rule_train" | grep "$env" > sacct.txt || true
cat sacct.txt
cp "logs/train/$env/KL+ent_2col/beta1e3_lr4e-4_seed0.log" "$here/${env}_last_chunk.log"  # the last chunk's log
cd "$repo"
OMP_NUM_THREADS=1 python "$here/measure.py" --out-csv "$here/${env}_samples.csv" --run-dir "$work/$env/uncut" -- \
    python -m distral_repro.train --algo KL+ent_2col --env "$env" --beta 1e3 --lr 4e-4 --seed 0 --preset paper \
    --steps-per-task "$steps" --threads 1 --quiet --out "$work/$env/uncut" | tee "$here/${env}_measure.json"
python - "$work/$env/$run" "$work/$env/uncut" <<'PY'
import json, sys
from pathlib import Path
a, b = map(Path, sys.argv[1:])
names = sorted(p.name for p in a.iterdir())
assert names == sorted(p.name for p in b.iterdir()), names
same = {n: (a / n).read_bytes() == (b / n).read_bytes() for n in names if n.endswith(".csv")}
clock = ("wall_time_s", "steps_per_second")
sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
same["summary.json (without wall_time_s, steps_per_second)"] = {k: v for k, v in sa.items() if k not in clock} == {k: v for k, v in sb.items() if k not in clock}
print(json.dumps(same))
assert all(same.values())
PY
