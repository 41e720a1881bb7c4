"""Pilot 15's table (summary.md) from units_*.csv: each family and setting at updates 0, 3, 50 and the end.

    python docs/results/pilots/p15_units/summary.py
"""

from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
COLUMNS = ["conv_live", "fc_live", "value_std", "logit_std", "entropy", "return"]

frames = [pd.read_csv(path) for path in sorted(HERE.glob("units_*.csv"))]
table = pd.concat(frames, ignore_index=True)
rows = []
for (env, label), group in table.groupby(["env", "label"], sort=False):
    end = group["update"].max()
    picked = group[group["update"].isin([0, 3, 50]) | (group["update"] == end)].copy()
    picked["point"] = [f"end ({u})" if u == end else str(u) for u in picked["update"]]
    rows.append(picked.assign(env=env, label=label))
out = pd.concat(rows)[["env", "label", "point", "step", *COLUMNS]]
lines = ["| family | start | update | env steps | conv live | fc live | value std | logit std | entropy | return |",
         "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
for row in out.itertuples(index=False):
    ret = "" if pd.isna(row[-1]) else f"{row[-1]:.2f}"
    lines.append(f"| {row.env} | {row.label} | {row.point} | {row.step} | {row.conv_live:.1%} | {row.fc_live:.1%} | "
                 f"{row.value_std:.3g} | {row.logit_std:.3g} | {row.entropy:.2f} | {ret} |")
(HERE / "summary.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
