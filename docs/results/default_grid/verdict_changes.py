"""Which verdicts changed between the old protocol and the new, claim by claim.

    python docs/results/default_grid/verdict_changes.py \
        docs/results/default_grid_old_protocol REANALYSED docs/results/default_grid

OLD: the previous published study as it was analysed then (its claims.csv); REANALYSED: the
`results_new/` that `docs/results/reanalyse.sh OLD WORKDIR` writes (the old runs under today's
statistics and config/claims.yaml); NEW: the study published here. The three columns separate
what the analysis changed (old -> reanalysed: same runs) from what the study design changed
(reanalysed -> new: new runs, seeds, selection and references). Prints the table with the
binding comparison of each primary test in the new study, and writes verdict_changes.csv
into NEW.
"""

import sys
from pathlib import Path

import pandas as pd

old, reanalysed, new = (Path(arg) for arg in sys.argv[1:4])
verdicts = pd.DataFrame({
    "old protocol": pd.read_csv(old / "claims.csv").set_index("claim")["verdict"],
    "old runs, today's analysis": pd.read_csv(reanalysed / "claims.csv").set_index("claim")["verdict"],
    "new study": pd.read_csv(new / "claims.csv").set_index("claim")["verdict"],
})
verdicts.index.name = "claim"
tests = pd.read_csv(new / "tables" / "primary_tests.csv")
tests = tests[tests["claim"] != "A/A"]
lines = ["| claim | old protocol | old runs, today's analysis | new study | new study's primary tests (adjusted p; binding comparison) |",
         "|---|---|---|---|---|"]
for claim, row in verdicts.iterrows():
    parts = [f"{t.test}: {t.verdict}, p_holm {t.p_holm:.3g}; {t.binding_comparison}: {str(t.effect).split(';')[0]}"
             if pd.notna(t.p_holm) else f"{t.test}: {t.verdict} ({t.reason})"
             for t in tests[tests["claim"] == claim].itertuples()]
    lines.append(f"| {claim} | {row.iloc[0]} | {row.iloc[1]} | **{row.iloc[2]}** | {'<br>'.join(parts)} |")
print("\n".join(lines))
verdicts.to_csv(new / "verdict_changes.csv")
