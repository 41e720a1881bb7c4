"""Verdicts on the paper's claims C1..C7 (SPEC.md §5), computed from the run files.

Every claim is split into parts, each a comparison of two bootstrap 95% intervals
(`stats.compare_intervals`): a part *holds* when the intervals are separated in the claimed
direction, *does not hold* when separated the other way, and is *inconclusive* when they
overlap or the data are missing (an environment or algorithm not in the run set, fewer than
two seeds). A claim holds when every part holds, does not hold when any part does not hold,
and is inconclusive otherwise (`stats.combine_all`). The rules are written out in RULES and
copied into claims.md.

"Distral" in a claim means the best Distral variant of that environment: the one of KL_1col,
KL+ent_1col, KL_2col, KL+ent_2col whose best setting has the highest mean AUC.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from distral_repro.analysis import stats
from distral_repro.analysis.runs import EARLY_FRACTION, GridworldRun
from distral_repro.analysis.stats import DOES_NOT_HOLD, HOLDS, INCONCLUSIVE
from distral_repro.analysis.tables import (
    BASELINES,
    DISTRAL_ALGORITHMS,
    FAILURE_FRACTION,
    Estimate,
    Study,
    markdown_table,
)

#: C6: pi_0 alone "performs well" if it closes at least this fraction of the task policies'
#: improvement over the start level (untrained policies).
PI0_THRESHOLD = 0.5
#: C4 (a): zero failed runs refute "some runs fail" only with at least this many runs.
MIN_RUNS_FOR_INSTABILITY = 36
UNSTABLE_BASELINES = ("A3C_multitask", "A3C_2col")

STATEMENTS = {
    "C1": "Distral learns faster and reaches higher final returns than all three A3C baselines on Maze and Navigation.",
    "C2": "Two-column variants learn faster than one-column variants.",
    "C3": "Without entropy (KL_*) learning is faster early but final returns are lower than with KL+ent_*.",
    "C4": "A3C_multitask and A3C_2col are unstable (some runs fail or diverge); Distral's sorted final-performance curve is flatter.",
    "C5": "On Laser-tag separate A3C is the strongest baseline and Distral still beats it.",
    "C6": "The distilled pi_0 alone performs well on the Maze tasks.",
    "C7": "Grid world: Distral soft-Q learns faster than separate soft-Q per task.",
}

RULES = {
    "C1": "For maze and navigation and each baseline A3C, A3C_multitask, A3C_2col: Distral's AUC and final "
    "return (best settings) above the baseline's with separated 95% CIs.",
    "C2": "In every environment: AUC of KL_2col above KL_1col and of KL+ent_2col above KL+ent_1col, separated CIs.",
    "C3": f"In every environment, for 1col and 2col: early AUC (mean return over the first {EARLY_FRACTION:.0%} "
    "of steps) of KL_* above KL+ent_*, and final return of KL+ent_* above KL_*, separated CIs.",
    "C4": "(a) A3C_multitask and A3C_2col each have at least one failed run over all environments "
    f"(does not hold: none failed among >= {MIN_RUNS_FOR_INSTABILITY} runs); a run failed if it diverged or its "
    f"final return stayed below start + {FAILURE_FRACTION:g} x (best final of the env - start). "
    "(b) In every environment, the interquartile range of all runs' normalised final returns "
    "((final - start) / (best final - start), diverged = 0) of each unstable baseline is above Distral's, "
    "separated CIs (bootstrap over runs).",
    "C5": "On lasertag: AUC of A3C above A3C_multitask's and A3C_2col's, and Distral's AUC and final return "
    "above A3C's, separated CIs.",
    "C6": "On maze, for the best Distral variant with pi_0 data: (pi_0 final - start) / (task-policy final - start) "
    f"has its CI above {PI0_THRESHOLD:g} (holds), below it (does not hold), else inconclusive; "
    "start = median first-evaluation return of all maze runs (untrained policies).",
    "C7": "Mean AUC over tasks of the episode return (over episodes) of Distral soft-Q above separate soft-Q, "
    "separated CIs (bootstrap over seeds and tasks).",
}


@dataclass
class Part:
    """One comparison behind a claim."""

    description: str
    verdict: str
    numbers: str


@dataclass
class Claim:
    claim: str
    statement: str
    rule: str
    parts: list[Part] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return stats.combine_all([p.verdict for p in self.parts])

    def missing(self, what: str) -> None:
        self.parts.append(Part(what, INCONCLUSIVE, "missing data"))

    def compare(self, description: str, label_a: str, a: Estimate, label_b: str, b: Estimate) -> None:
        """Part "a is larger than b"."""
        verdict = stats.compare_intervals(a.low, a.high, b.low, b.high)
        self.parts.append(Part(description, verdict, f"{label_a} {_fmt(a)} vs {label_b} {_fmt(b)}"))


def _fmt(est: Estimate) -> str:
    return f"{est.mean:.4g} [{est.low:.4g}, {est.high:.4g}]"


def best_distral(study: Study, env: str, need_pi0: bool = False) -> str | None:
    """The Distral variant with the highest best-setting mean AUC in env (None if absent)."""
    candidates = [
        a
        for a in DISTRAL_ALGORITHMS
        if (env, a) in study.results
        and np.isfinite(study.results[(env, a)].auc.mean)
        and (not need_pi0 or study.results[(env, a)].pi0_final is not None)
    ]
    return max(candidates, key=lambda a: study.results[(env, a)].auc.mean) if candidates else None


def claim_c1(study: Study) -> Claim:
    claim = Claim("C1", STATEMENTS["C1"], RULES["C1"])
    for env in ("maze", "navigation"):
        distral = best_distral(study, env)
        if distral is None:
            claim.missing(f"{env}: no Distral runs")
            continue
        d = study.results[(env, distral)]
        for baseline in BASELINES:
            if (env, baseline) not in study.results:
                claim.missing(f"{env}: no {baseline} runs")
                continue
            b = study.results[(env, baseline)]
            claim.compare(f"{env} AUC {distral} > {baseline}", distral, d.auc, baseline, b.auc)
            claim.compare(f"{env} final {distral} > {baseline}", distral, d.final, baseline, b.final)
    return claim


def claim_c2(study: Study) -> Claim:
    claim = Claim("C2", STATEMENTS["C2"], RULES["C2"])
    if not study.envs:
        claim.missing("no environments")
    for env in study.envs:
        for two, one in (("KL_2col", "KL_1col"), ("KL+ent_2col", "KL+ent_1col")):
            if (env, two) not in study.results or (env, one) not in study.results:
                claim.missing(f"{env}: {two} or {one} missing")
                continue
            claim.compare(
                f"{env} AUC {two} > {one}", two, study.results[(env, two)].auc, one, study.results[(env, one)].auc
            )
    return claim


def claim_c3(study: Study) -> Claim:
    claim = Claim("C3", STATEMENTS["C3"], RULES["C3"])
    for env in study.envs:
        for kl, kl_ent in (("KL_1col", "KL+ent_1col"), ("KL_2col", "KL+ent_2col")):
            if (env, kl) not in study.results or (env, kl_ent) not in study.results:
                claim.missing(f"{env}: {kl} or {kl_ent} missing")
                continue
            a, b = study.results[(env, kl)], study.results[(env, kl_ent)]
            claim.compare(f"{env} early AUC {kl} > {kl_ent}", kl, a.early_auc, kl_ent, b.early_auc)
            claim.compare(f"{env} final {kl_ent} > {kl}", kl_ent, b.final, kl, a.final)
    if not claim.parts:
        claim.missing("no environments")
    return claim


def claim_c4(study: Study) -> Claim:
    claim = Claim("C4", STATEMENTS["C4"], RULES["C4"])
    for baseline in UNSTABLE_BASELINES:
        results = [study.results[(env, baseline)] for env in study.envs if (env, baseline) in study.results]
        runs = sum(r.num_runs for r in results)
        failed = sum(r.num_failed for r in results)
        diverged = sum(r.num_diverged for r in results)
        numbers = f"{failed} failed ({diverged} diverged) of {runs} runs"
        if failed > 0:
            verdict = HOLDS
        elif runs >= MIN_RUNS_FOR_INSTABILITY:
            verdict = DOES_NOT_HOLD
        else:
            verdict = INCONCLUSIVE
        claim.parts.append(Part(f"(a) {baseline} has failed runs", verdict, numbers))
    for env in study.envs:
        distral = best_distral(study, env)
        if distral is None:
            claim.missing(f"(b) {env}: no Distral runs")
            continue
        d_scores = study.normalised_finals(env, distral)
        if d_scores is None:
            claim.missing(f"(b) {env}: no run learned, final returns cannot be normalised")
            continue
        d_iqr = Estimate(*stats.interquartile_range_ci(d_scores))
        for baseline in UNSTABLE_BASELINES:
            if (env, baseline) not in study.results:
                claim.missing(f"(b) {env}: no {baseline} runs")
                continue
            b_iqr = Estimate(*stats.interquartile_range_ci(study.normalised_finals(env, baseline)))
            claim.compare(f"(b) {env} IQR {baseline} > {distral}", baseline, b_iqr, distral, d_iqr)
    return claim


def claim_c5(study: Study) -> Claim:
    claim = Claim("C5", STATEMENTS["C5"], RULES["C5"])
    env = "lasertag"
    if (env, "A3C") not in study.results:
        claim.missing("lasertag: no A3C runs")
        return claim
    a3c = study.results[(env, "A3C")]
    for baseline in UNSTABLE_BASELINES:
        if (env, baseline) not in study.results:
            claim.missing(f"lasertag: no {baseline} runs")
            continue
        claim.compare(f"lasertag AUC A3C > {baseline}", "A3C", a3c.auc, baseline, study.results[(env, baseline)].auc)
    distral = best_distral(study, env)
    if distral is None:
        claim.missing("lasertag: no Distral runs")
        return claim
    d = study.results[(env, distral)]
    claim.compare(f"lasertag AUC {distral} > A3C", distral, d.auc, "A3C", a3c.auc)
    claim.compare(f"lasertag final {distral} > A3C", distral, d.final, "A3C", a3c.final)
    return claim


def claim_c6(study: Study) -> Claim:
    claim = Claim("C6", STATEMENTS["C6"], RULES["C6"])
    env = "maze"
    distral = best_distral(study, env, need_pi0=True) if env in study.envs else None
    if distral is None:
        claim.missing("maze: no Distral run with pi_0 evaluations")
        return claim
    res = study.results[(env, distral)]
    start, _ = study.levels[env]
    pi0 = np.array([r.pi0_final_return for r in res.best_runs])
    task = np.array([r.final_return for r in res.best_runs])
    ratio = Estimate(*stats.normalised_gap_ci(pi0, task, start))
    numbers = (
        f"pi_0 final {_fmt(res.pi0_final)}, task policies {_fmt(res.final)}, start {start:.4g}; "
        f"fraction of improvement {_fmt(ratio)}"
    )
    verdict = stats.compare_intervals(ratio.low, ratio.high, PI0_THRESHOLD, PI0_THRESHOLD)
    claim.parts.append(Part(f"maze {distral}: pi_0 alone reaches {PI0_THRESHOLD:g} of the improvement", verdict, numbers))
    return claim


def gridworld_estimates(runs: list[GridworldRun], method: str, field_name: str) -> Estimate:
    """Mean over seeds and tasks of a per-task field for the ok runs of one method."""
    ok = [r for r in runs if r.method == method and r.status == "ok"]
    matrix = np.array([getattr(r, field_name) for r in ok]) if ok else np.empty((0, 0))
    return Estimate.of(matrix)


def claim_c7(gridworld: list[GridworldRun]) -> Claim:
    claim = Claim("C7", STATEMENTS["C7"], RULES["C7"])
    methods = {r.method for r in gridworld if r.status == "ok"}
    if not {"distral", "separate"} <= methods:
        claim.missing("grid world: runs of both methods needed")
        return claim
    claim.compare(
        "grid world AUC distral > separate",
        "distral",
        gridworld_estimates(gridworld, "distral", "auc_return"),
        "separate",
        gridworld_estimates(gridworld, "separate", "auc_return"),
    )
    return claim


def evaluate_claims(study: Study, gridworld: list[GridworldRun]) -> list[Claim]:
    """All seven claims, in order."""
    return [
        claim_c1(study),
        claim_c2(study),
        claim_c3(study),
        claim_c4(study),
        claim_c5(study),
        claim_c6(study),
        claim_c7(gridworld),
    ]


def claims_table(claims: list[Claim]) -> pd.DataFrame:
    """One row per claim: claim, verdict, statement, rule, evidence (its parts, '; '-joined)."""
    return pd.DataFrame(
        {
            "claim": [c.claim for c in claims],
            "verdict": [c.verdict for c in claims],
            "statement": [c.statement for c in claims],
            "rule": [c.rule for c in claims],
            "evidence": ["; ".join(f"{p.description}: {p.numbers} -> {p.verdict}" for p in c.parts) for c in claims],
        }
    )


def claims_markdown(claims: list[Claim]) -> str:
    """claims.md: a summary table, the general rule, and each claim's parts with numbers."""
    lines = [
        "# Claims of the Distral paper: verdicts from the runs",
        "",
        markdown_table(pd.DataFrame({"claim": [c.claim for c in claims], "verdict": [c.verdict for c in claims],
                                     "statement": [c.statement for c in claims]})),
        "## How verdicts are computed",
        "",
        "Each claim is a set of comparisons of two 95% confidence intervals. A comparison *holds* when "
        "the intervals are separated in the claimed direction, *does not hold* when they are separated "
        "the other way, and is *inconclusive* when they overlap or data are missing (an environment or "
        "algorithm not in the run set, fewer than two seeds). A claim holds when every comparison holds, "
        "does not hold when any comparison does not hold, and is inconclusive otherwise.",
        "",
        "Numbers are means with bootstrap 95% confidence intervals in brackets (stratified percentile "
        f"bootstrap: seeds resampled within each task, {stats.NUM_RESAMPLES} resamples, seed "
        f"{stats.BOOTSTRAP_SEED}). AUC = mean episode return over the whole learning curve; final = mean "
        f"over the last 10% of steps; early AUC = mean over the first {EARLY_FRACTION:.0%} of steps. All are "
        "taken at each algorithm's best (beta, lr): the fewest diverged runs, then the highest mean AUC "
        "over seeds and tasks. \"Distral\" = the Distral variant (KL_1col, KL+ent_1col, KL_2col, "
        "KL+ent_2col) with the highest AUC in that environment. Start level of an environment = median "
        "first evaluation return of all its runs (untrained policies). A run *failed* if it diverged or "
        f"its final return stayed below start + {FAILURE_FRACTION:g} x (best final return of the env - start).",
        "",
    ]
    for c in claims:
        lines += [f"## {c.claim}: {c.verdict}", "", c.statement, "", f"Rule: {c.rule}", ""]
        parts = pd.DataFrame(
            {
                "comparison": [p.description for p in c.parts],
                "numbers": [p.numbers for p in c.parts],
                "verdict": [p.verdict for p in c.parts],
            }
        )
        lines += [markdown_table(parts)]
    return "\n".join(lines)
