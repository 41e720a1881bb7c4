"""Verdicts on the paper's claims C1..C7 (SPEC.md §5), computed from the run files.

Scores are normalised per task (0 = uniform-random policy, 1 = scripted policy) and every
comparison of two algorithms is the probability of improvement P(X > Y) of rliable: the
probability that a run of X (at its best setting) scores above a run of Y on a task, averaged
over tasks, with a stratified-bootstrap 95% interval (runs of each resampled within each
task). A part *holds* when the interval of P(X > Y) lies above 0.5, *does not hold* when it
lies below 0.5, and is *inconclusive* when it contains 0.5 or data are missing (an
environment or algorithm not in the run set, fewer than two seeds). A claim holds when every
part holds, does not hold when any part does not hold, and is inconclusive otherwise
(`stats.combine_all`). The rules are written out in RULES and copied into claims.md.

"Distral" in a claim means the best Distral variant of that environment: the one of KL_1col,
KL+ent_1col, KL_2col, KL+ent_2col whose best setting has the highest mean AUC score.

A study has one or two stages (`Stages`): the grid (every beta x lr x seed at the preset's
budget) and, where configured, the confirmation runs (each env x algorithm at its best grid
setting, fresh seeds, a longer budget). What the grid measures best (sensitivity to
hyperparameters, early learning: C2, C3's early part, C4) is judged on the grid; what needs
learning to go on (whole curves and final returns: C1, C3's final part, C5, C6) on the
confirmation runs of an env where it has them, else on the grid. Every part names its stage.
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
    METRICS,
    Estimate,
    Study,
    markdown_table,
)

#: C6: pi_0 alone "performs well" if its final score is at least this fraction of the task policies'.
PI0_THRESHOLD = 0.5
#: A probability of improvement is compared with this value (no difference).
CHANCE = 0.5
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

_POI = "P(X > Y) with its 95% CI above 0.5"
RULES = {
    "C1": f"For maze and navigation and each baseline Y of A3C, A3C_multitask, A3C_2col: {_POI} for X = Distral, "
    "on both the AUC and the final score (best settings; confirmation runs where there are).",
    "C2": f"In every environment, on the AUC score of the grid: {_POI} for KL_2col over KL_1col and for KL+ent_2col "
    "over KL+ent_1col.",
    "C3": f"In every environment, for 1col and 2col: {_POI} for KL_* over KL+ent_* on the early AUC score "
    f"of the grid (mean over the first {EARLY_FRACTION:.0%} of steps), and for KL+ent_* over KL_* on the final "
    "score (confirmation runs where there are).",
    "C4": "(a) A3C_multitask and A3C_2col each have at least one failed run over all environments "
    f"(does not hold: none failed among >= {MIN_RUNS_FOR_INSTABILITY} runs); a run failed if it diverged or its "
    f"mean final score stayed below {FAILURE_FRACTION:g} x the best run's of its environment. "
    "(b) In every environment, the spread of the mean final scores of all runs of an algorithm (36 in the grid; "
    "diverged = 0), measured by their interquartile range, is larger for each unstable baseline than for "
    "Distral, separated 95% CIs (bootstrap over runs).",
    "C5": f"On lasertag: {_POI} for A3C over A3C_multitask and over A3C_2col on the AUC score, and for Distral "
    "over A3C on the AUC and the final score (confirmation runs where there are).",
    "C6": "On maze, for the best Distral variant with pi_0 data: the mean final score of pi_0 acting alone divided "
    f"by that of the task policies (paired bootstrap over seeds) has its CI above {PI0_THRESHOLD:g} (holds), "
    "below it (does not hold), else inconclusive (confirmation runs where there are).",
    "C7": f"Grid world: {_POI} for Distral soft-Q over separate soft-Q on the AUC (mean episode return over the "
    "episodes), over seeds x tasks.",
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

    def improvement(self, description: str, label: str, poi: Estimate, extra: str = "") -> None:
        """Part "P(X > Y) > 0.5"."""
        verdict = stats.compare_intervals(poi.low, poi.high, CHANCE, CHANCE)
        numbers = f"P({label}) = {_fmt(poi)}" + (f"; {extra}" if extra else "")
        self.parts.append(Part(description, verdict, numbers))

    def compare_poi(self, study: Study, env: str, x: str, y: str, metric: str) -> None:
        """Part "X beats Y on metric in env", by P(X > Y), with both mean scores for reference."""
        if (env, x) not in study.results or (env, y) not in study.results:
            self.missing(f"{env}: {x} or {y} missing")
            return
        poi = study.probability_of_improvement(env, x, y, metric)
        a, b = study.results[(env, x)].mean[metric], study.results[(env, y)].mean[metric]
        self.improvement(
            f"{env} ({study.stage}) {METRICS[metric]} {x} > {y}", f"{x} > {y}", poi,
            f"mean {METRICS[metric]} score {x} {_fmt(a)} vs {y} {_fmt(b)}",
        )


@dataclass
class Stages:
    """The grid and, where configured, the confirmation runs of one study."""

    grid: Study
    confirmation: Study | None = None

    def late(self, env: str) -> Study:
        """The runs behind env's learning curves and final returns: its confirmation runs, else the grid."""
        if self.confirmation is not None and env in self.confirmation.envs:
            return self.confirmation
        return self.grid


def as_stages(study: Study | Stages) -> Stages:
    """A single Study is a study of one stage, the grid."""
    return study if isinstance(study, Stages) else Stages(study)


def _fmt(est: Estimate) -> str:
    return f"{est.mean:.3g} [{est.low:.3g}, {est.high:.3g}]"


def best_distral(study: Study, env: str, need_pi0: bool = False) -> str | None:
    """The Distral variant with the highest best-setting mean AUC score in env (None if absent)."""
    candidates = [
        a
        for a in DISTRAL_ALGORITHMS
        if (env, a) in study.results
        and np.isfinite(study.results[(env, a)].auc.mean)
        and (not need_pi0 or study.results[(env, a)].pi0_final is not None)
    ]
    return max(candidates, key=lambda a: study.results[(env, a)].auc.mean) if candidates else None


def claim_c1(study: Study | Stages) -> Claim:
    stages = as_stages(study)
    claim = Claim("C1", STATEMENTS["C1"], RULES["C1"])
    for env in ("maze", "navigation"):
        study = stages.late(env)
        distral = best_distral(study, env)
        if distral is None:
            claim.missing(f"{env}: no Distral runs")
            continue
        for baseline in BASELINES:
            for metric in ("auc", "final"):
                claim.compare_poi(study, env, distral, baseline, metric)
    return claim


def claim_c2(study: Study | Stages) -> Claim:
    stages = as_stages(study)
    claim = Claim("C2", STATEMENTS["C2"], RULES["C2"])
    study = stages.grid
    if not study.envs:
        claim.missing("no environments")
    for env in study.envs:
        for two, one in (("KL_2col", "KL_1col"), ("KL+ent_2col", "KL+ent_1col")):
            claim.compare_poi(study, env, two, one, "auc")
    return claim


def claim_c3(study: Study | Stages) -> Claim:
    stages = as_stages(study)
    claim = Claim("C3", STATEMENTS["C3"], RULES["C3"])
    for env in stages.grid.envs:
        for kl, kl_ent in (("KL_1col", "KL+ent_1col"), ("KL_2col", "KL+ent_2col")):
            claim.compare_poi(stages.grid, env, kl, kl_ent, "early_auc")
            claim.compare_poi(stages.late(env), env, kl_ent, kl, "final")
    if not claim.parts:
        claim.missing("no environments")
    return claim


def claim_c4(study: Study | Stages) -> Claim:
    stages = as_stages(study)
    claim = Claim("C4", STATEMENTS["C4"], RULES["C4"])
    study = stages.grid
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
        d_iqr = Estimate(*stats.interquartile_range_ci(study.normalised_finals(env, distral)))
        for baseline in UNSTABLE_BASELINES:
            if (env, baseline) not in study.results:
                claim.missing(f"(b) {env}: no {baseline} runs")
                continue
            b_iqr = Estimate(*stats.interquartile_range_ci(study.normalised_finals(env, baseline)))
            verdict = stats.compare_intervals(b_iqr.low, b_iqr.high, d_iqr.low, d_iqr.high)
            claim.parts.append(Part(f"(b) {env} spread (IQR) {baseline} > {distral}", verdict,
                                    f"{baseline} {_fmt(b_iqr)} vs {distral} {_fmt(d_iqr)}"))
    return claim


def claim_c5(study: Study | Stages) -> Claim:
    stages = as_stages(study)
    claim = Claim("C5", STATEMENTS["C5"], RULES["C5"])
    env = "lasertag"
    study = stages.late(env)
    if (env, "A3C") not in study.results:
        claim.missing("lasertag: no A3C runs")
        return claim
    for baseline in UNSTABLE_BASELINES:
        claim.compare_poi(study, env, "A3C", baseline, "auc")
    distral = best_distral(study, env)
    if distral is None:
        claim.missing("lasertag: no Distral runs")
        return claim
    for metric in ("auc", "final"):
        claim.compare_poi(study, env, distral, "A3C", metric)
    return claim


def claim_c6(study: Study | Stages) -> Claim:
    stages = as_stages(study)
    claim = Claim("C6", STATEMENTS["C6"], RULES["C6"])
    env = "maze"
    study = stages.late(env)
    distral = best_distral(study, env, need_pi0=True) if env in study.envs else None
    if distral is None:
        claim.missing("maze: no Distral run with pi_0 evaluations")
        return claim
    res = study.results[(env, distral)]
    ratio = Estimate(*stats.normalised_gap_ci(res.pi0_scores, res.scores["final"], 0.0))
    numbers = f"pi_0 final score {_fmt(res.pi0_final)}, task policies {_fmt(res.final)}; ratio {_fmt(ratio)}"
    verdict = stats.compare_intervals(ratio.low, ratio.high, PI0_THRESHOLD, PI0_THRESHOLD)
    claim.parts.append(Part(f"maze ({study.stage}) {distral}: pi_0 alone reaches {PI0_THRESHOLD:g} of the task policies' score",
                            verdict, numbers))
    return claim


def gridworld_matrix(runs: list[GridworldRun], method: str, field_name: str) -> np.ndarray:
    """(seeds x tasks) of a per-task field for the ok runs of one method."""
    ok = [r for r in runs if r.method == method and r.status == "ok"]
    return np.array([getattr(r, field_name) for r in ok]) if ok else np.empty((0, 0))


def gridworld_estimates(runs: list[GridworldRun], method: str, field_name: str) -> Estimate:
    """Mean over seeds and tasks of a per-task field for the ok runs of one method."""
    return Estimate.of(gridworld_matrix(runs, method, field_name))


def claim_c7(gridworld: list[GridworldRun]) -> Claim:
    claim = Claim("C7", STATEMENTS["C7"], RULES["C7"])
    methods = {r.method for r in gridworld if r.status == "ok"}
    if not {"distral", "separate"} <= methods:
        claim.missing("grid world: runs of both methods needed")
        return claim
    distral, separate = (gridworld_matrix(gridworld, m, "auc_return") for m in ("distral", "separate"))
    poi = Estimate(*stats.probability_of_improvement_ci(distral, separate))
    claim.improvement(
        "grid world AUC distral > separate", "distral > separate", poi,
        f"mean AUC return distral {_fmt(Estimate.of(distral))} vs separate {_fmt(Estimate.of(separate))}",
    )
    return claim


def evaluate_claims(study: Study | Stages, gridworld: list[GridworldRun]) -> list[Claim]:
    """All seven claims, in order (a single Study is a study of one stage, the grid)."""
    stages = as_stages(study)
    return [
        claim_c1(stages),
        claim_c2(stages),
        claim_c3(stages),
        claim_c4(stages),
        claim_c5(stages),
        claim_c6(stages),
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


def claims_markdown(claims: list[Claim], upper_references: dict[str, str] | None = None) -> str:
    """claims.md: a summary table, the general rule, and each claim's parts with numbers."""
    references = ""
    if upper_references:
        described = {"scripted": "the scripted shortest-path policy", "user": "a value given with the family",
                     "best_in_grid": "the best final return observed in the grid"}
        references = " Upper references: " + "; ".join(
            f"{env}: {described.get(source, source)}" for env, source in upper_references.items()
        ) + "."
    lines = [
        "# Claims of the Distral paper: verdicts from the runs",
        "",
        markdown_table(pd.DataFrame({"claim": [c.claim for c in claims], "verdict": [c.verdict for c in claims],
                                     "statement": [c.statement for c in claims]})),
        "## How verdicts are computed",
        "",
        "Scores are normalised per task: (return - random) / (upper - random), where random is the mean "
        "return of the uniform-random policy and upper that of the upper reference (results/reference_scores.csv)."
        + references,
        "",
        "Two algorithms are compared by the probability of improvement P(X > Y) (Agarwal et al., NeurIPS 2021, "
        "rliable): the probability that a run of X at its best setting scores above a run of Y at its best "
        "setting on a task, ties counting one half, averaged over tasks. A comparison *holds* when the 95% "
        "interval of P(X > Y) lies above 0.5, *does not hold* when it lies below 0.5, and is *inconclusive* "
        "when it contains 0.5 or data are missing (an environment or algorithm not in the run set, fewer than "
        "two seeds). A claim holds when every comparison holds, does not hold when any comparison does not "
        "hold, and is inconclusive otherwise.",
        "",
        "Intervals are stratified percentile bootstraps (runs resampled within each task, "
        f"{stats.NUM_RESAMPLES} resamples, seed {stats.BOOTSTRAP_SEED}). AUC = mean score over the whole "
        f"learning curve; final = mean over the last 10% of steps; early AUC = mean over the first "
        f"{EARLY_FRACTION:.0%} of steps. Best setting = the (beta, lr) with the fewest diverged runs, then the "
        "highest mean AUC score over seeds and tasks. \"Distral\" = the Distral variant (KL_1col, KL+ent_1col, "
        "KL_2col, KL+ent_2col) with the highest mean AUC score in that environment. A run *failed* if it "
        f"diverged or its mean final score stayed below {FAILURE_FRACTION:g} x the best run's of its environment; "
        "where all runs are pooled a diverged run scores 0.",
        "",
        "Each comparison names the stage of the runs it uses: *grid* = every beta x lr x seed at the preset's "
        "budget; *confirmation* = each algorithm at its best grid setting, rerun on fresh seeds with a longer "
        "budget (README, \"Two stages\"). Robustness and early learning (C2, C3 early, C4) are judged on the "
        "grid; curves and final scores (C1, C3 final, C5, C6) on the confirmation runs where the study has them.",
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
