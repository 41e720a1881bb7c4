"""`python -m distral_repro.analysis.aggregate`: tables, metrics and claim verdicts.

    python -m distral_repro.analysis.aggregate --results-dir results \
        --references results/reference_scores.csv [--claims config/claims.yaml] [--confirmation RUN_DIR ...] \
        [--aa RUN_DIR ...] [--gridworld GW_RUN_DIR ...] RUN_DIR [RUN_DIR ...]

Reads only the run files (summary.json, progress.csv, pi0_eval.csv) and the reference
scores, and writes, each atomically, under --results-dir (scores normalised per task:
0 = uniform-random policy, 1 = scripted policy):

    tables/all_runs.csv + .md                   one row per run
    tables/settings.csv + .md                   one row per env x algo x (beta, lr)
    tables/best_settings.csv + .md              per env x algo at its best (beta, lr): mean and IQM with CIs
    tables/best_settings_returns.csv + .md      the same in raw returns (secondary)
    tables/probability_of_improvement.csv + .md P(Distral variant > baseline) per env and metric
    tables/performance_profiles.csv             fraction of runs above tau, all runs of each algorithm
    tables/learning_curves.csv                  tidy score curves of the best settings (x = step), from
                                                the confirmation runs of an env where there are, else the grid
    metrics.json                                headline numbers for `dvc metrics diff`
    tables/primary_tests.csv + .md              each pre-registered primary test: verdict, effect,
                                                p-values (Holm), false-verdict rates, power
    claims.csv + claims.md                      verdicts on C1..C7 from the primary tests of --claims
                                                (the pre-registration, docs/statistics.md)

RUN_DIR are the grid's runs (every beta x lr x seed). With confirmation runs (each given
as `--confirmation RUN_DIR`: an algorithm at its best grid setting, fresh seeds, a longer
budget) also:

    tables/confirmation_runs.csv + .md                       one row per confirmation run
    tables/confirmation.csv + .md                            per env x algo: mean and IQM with CIs
    tables/confirmation_probability_of_improvement.csv + .md P(Distral variant > baseline)

A study without a grid (its settings chosen by another study's: config/long_horizon.yaml) gives
only --confirmation runs and no RUN_DIR: the grid's tables and performance profiles are then not
written, and its claims file may name no grid-stage test.

--aa RUN_DIR (repeated) are the A/A check's runs: one algorithm at one setting on seeds of its
own, compared as another algorithm with the confirmation runs (else the grid runs) of the same
env, algorithm and setting on the other seeds.

Every input is read and checked before anything is written: a missing or truncated run,
a family without reference scores, or a claims file that is malformed or names an algorithm
or stage the study lacks, stops the command with one line naming it (exit 1).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from distral_repro.analysis.claims import (
    Claim,
    Stages,
    TestResult,
    as_stages,
    claims_markdown,
    claims_table,
    evaluate_claims,
    gridworld_estimates,
    primary_tests_table,
)
from distral_repro.analysis.preregistration import (
    Preregistration,
    PreregistrationError,
    check_against,
    load_preregistration,
)
from distral_repro.analysis.runs import GRIDWORLD_METHODS, GridworldRun, Run, RunFileError, load_gridworld_runs, load_runs
from distral_repro.analysis.scores import MissingReferenceError, References
from distral_repro.analysis.tables import ALGORITHM_ORDER, Study, markdown_table
from distral_repro.runio import atomic_write_csv, atomic_write_json, atomic_write_text


def _headline(res) -> dict:
    """The scores of one env x algo at its best setting that both stages report."""
    return {
        "auc_score": res.auc.mean,
        "final_score": res.final.mean,
        "final_iqm": res.iqm["final"].mean,
        "auc_iqm": res.iqm["auc"].mean,
        "fraction_diverged": res.fraction_diverged,
        "runs": res.num_runs,
    }


def confirmation_metrics(study: Study) -> dict:
    """{env: {algo: {...}}} of the confirmation runs: the numbers behind curves and final claims."""
    out: dict = {}
    for (env, algo), res in study.results.items():
        out.setdefault(env, {})[algo] = {"beta": res.beta, "lr": res.lr, **_headline(res)}
    return out


def metrics(study: Study | Stages, gridworld: list[GridworldRun], claims: list[Claim],
            aa: TestResult | None = None) -> dict:
    """Small, stable-keyed headline numbers: {env: {algo: {...}}, gridworld: {...},
    confirmation: {env: {algo: {...}}} (with a confirmation stage), claims: {...}}."""
    stages = as_stages(study)
    study = stages.grid
    out: dict = {}
    for (env, algo), res in (study.results.items() if study is not None else ()):
        out.setdefault(env, {})[algo] = {
            **_headline(res),
            "early_auc_score": res.early_auc.mean,
            "fraction_failed": res.fraction_failed,
            "robustness_iqr": study.robustness_iqr(env, algo),
        }
    grid: dict = {}
    for method in GRIDWORLD_METHODS:
        runs = [r for r in gridworld if r.method == method]
        if runs:
            grid[method] = {
                "mean_auc_return": gridworld_estimates(gridworld, method, "auc_return").mean,
                "mean_final_return": gridworld_estimates(gridworld, method, "final_return").mean,
                "fraction_diverged": sum(r.status == "diverged" for r in runs) / len(runs),
                "runs": len(runs),
            }
    if grid:
        out["gridworld"] = grid
    if stages.confirmation is not None:
        out["confirmation"] = confirmation_metrics(stages.confirmation)
    out["claims"] = {c.claim: c.verdict for c in claims}
    if aa is not None:
        out["aa_check"] = {"verdict": aa.verdict, "p": aa.p, "false_supported": aa.false_supported,
                           "false_contradicted": aa.false_contradicted}
    needed = [t.seeds_needed for c in claims for t in c.tests if t.seeds_needed is not None]
    if needed:  # the seeds per algorithm every primary test needs for P(X > Y) = 0.70 at 80% power
        out["seeds_needed_p070"] = max(needed)
    return out


def learning_curves(stages: Stages) -> pd.DataFrame:
    """The curves behind the figures: each env's confirmation runs where there are, else its grid's."""
    tables = {}  # each study's curves once, not once per env
    frames = []
    for env in stages.envs:
        late = stages.late(env)
        if late.stage not in tables:
            tables[late.stage] = late.learning_curves_table()
        table = tables[late.stage]
        frames.append(table[table["env"] == env].assign(stage=late.stage))
    return pd.concat(frames, ignore_index=True)


def write_outputs(results_dir: Path, study: Study | Stages, gridworld: list[GridworldRun],
                  prereg: Preregistration) -> list[Path]:
    """Compute everything, then write every output atomically; returns the paths written."""
    stages = as_stages(study)
    study = stages.grid
    claims, aa = evaluate_claims(stages, gridworld, prereg)
    tables = {} if study is None else {
        "all_runs": study.all_runs_table(),
        "settings": study.settings_table(),
        "best_settings": study.best_settings_table(),
        "best_settings_returns": study.best_settings_returns_table(),
        "probability_of_improvement": study.probability_of_improvement_table(),
    }
    tables["primary_tests"] = primary_tests_table(claims, aa)
    if stages.confirmation is not None:
        tables.update({
            "confirmation_runs": stages.confirmation.all_runs_table(),
            "confirmation": stages.confirmation.best_settings_table(),
            "confirmation_probability_of_improvement": stages.confirmation.probability_of_improvement_table(),
        })
    curves = learning_curves(stages)
    profiles = study.performance_profiles_table() if study is not None else None  # every run of the grid
    claim_rows = claims_table(claims)
    headline = metrics(stages, gridworld, claims, aa)
    claims_md = claims_markdown(claims, aa, prereg, {env: stages.late(env).refs[env].source for env in stages.envs})

    written = []
    for name, table in tables.items():
        written.append(atomic_write_csv(results_dir / "tables" / f"{name}.csv", table))
        written.append(atomic_write_text(results_dir / "tables" / f"{name}.md", markdown_table(table)))
    written.append(atomic_write_csv(results_dir / "tables" / "learning_curves.csv", curves))
    if profiles is not None:
        written.append(atomic_write_csv(results_dir / "tables" / "performance_profiles.csv", profiles))
    written.append(atomic_write_json(results_dir / "metrics.json", headline))
    written.append(atomic_write_csv(results_dir / "claims.csv", claim_rows))
    written.append(atomic_write_text(results_dir / "claims.md", claims_md))
    return written


def seed_label(algo: str, runs: list[Run]) -> str:
    """An A/A seed set's name: the algorithm and its seeds, e.g. A3C_2col seeds 4-7."""
    seeds = sorted(r.seed for r in runs)
    span = f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2 else (
        ",".join(map(str, seeds)))
    return f"{algo} seeds {span}"


def aa_study(aa_runs: list[Run], stages: Stages, refs: References, first_dir: str) -> Study:
    """The A/A check as a study of two algorithms: the given runs (one env, algorithm, setting)
    and the other runs of that env, algorithm and setting on other seeds (confirmation, else grid)."""
    keys = {(r.env, r.algo, r.setting) for r in aa_runs}
    if len(keys) != 1:
        raise RunFileError(first_dir, "the A/A runs must be one env, algorithm and setting")
    env, algo, setting = keys.pop()
    seeds = {r.seed for r in aa_runs}
    source = stages.late(env)
    others = [] if source is None else [
        r for r in source.runs if (r.env, r.algo, r.setting) == (env, algo, setting) and r.seed not in seeds]
    if not others:
        raise RunFileError(first_dir, f"no {source.stage if source else 'grid'} runs of {env} {algo} at this setting "
                                      "on other seeds to compare the A/A runs with")
    first, second = seed_label(algo, others), seed_label(algo, aa_runs)
    runs = [replace(r, algo=first) for r in others] + [replace(r, algo=second) for r in aa_runs]
    return Study(runs, refs, stage=source.stage, scale_of=stages.grid)


def load_stages(run_dirs: list[str], confirmation_dirs: list[str], references: Path,
                aa_dirs: list[str] = ()) -> Stages:
    """The grid's runs, the confirmation runs (scored on the grid's scale) and the A/A pair as a
    Stages; without grid runs (a study whose settings another study chose) its grid is None."""
    # runs first: name a bad one
    grid_runs, confirmation_runs, aa_runs = load_runs(run_dirs), load_runs(confirmation_dirs), load_runs(list(aa_dirs))
    refs = References.load(references)
    if not grid_runs and not confirmation_runs:
        raise ValueError("no runs given")
    grid = Study(grid_runs, refs) if grid_runs else None
    stages = Stages(grid)
    if confirmation_runs:
        stages.confirmation = Study(confirmation_runs, refs, stage="confirmation", scale_of=grid)
        unknown = sorted(set(stages.confirmation.envs) - set(grid.envs)) if grid is not None else []
        if unknown:
            raise RunFileError(confirmation_dirs[0], f"confirmation runs of {', '.join(unknown)} but no grid runs of it")
    if aa_runs:
        stages.aa = aa_study(aa_runs, stages, refs, aa_dirs[0])
    return stages


def check_claims(prereg: Preregistration, stages: Stages) -> None:
    """PreregistrationError naming an algorithm or stage of the claims file the study lacks."""
    algorithms = {r.algo for s in (stages.grid, stages.confirmation) if s is not None for r in s.runs}
    check_against(prereg, algorithms, stages.names(), set(ALGORITHM_ORDER))


def load_inputs(
    run_dirs: list[str], gridworld_dirs: list[str], references: Path, confirmation_dirs: list[str] = (),
    aa_dirs: list[str] = (),
) -> tuple[Stages, list[GridworldRun]]:
    """Load and validate every run and the references (RunFileError naming a bad run,
    MissingReferenceError naming a family without reference scores)."""
    return load_stages(run_dirs, list(confirmation_dirs), references, aa_dirs), load_gridworld_runs(gridworld_dirs)


#: The pre-registration the workflow uses (config/claims.yaml of the repository).
DEFAULT_CLAIMS = Path(__file__).resolve().parents[2] / "config" / "claims.yaml"


def check_results_dir(results_dir: Path) -> None:
    """Create `results_dir`/tables and a file in each now, before any computing: an unwritable
    --results-dir (a file, a read-only mount) fails at once (OSError), leaving nothing created."""
    import tempfile

    tables = results_dir / "tables"
    created = [p for p in (tables, results_dir, *results_dir.parents) if not p.exists()]
    try:
        tables.mkdir(parents=True, exist_ok=True)
        for directory in (results_dir, tables):
            with tempfile.TemporaryFile(dir=directory):
                pass
    except OSError:
        for path in created:  # deepest first
            try:
                path.rmdir()
            except OSError:
                pass
        raise


GRIDWORLD_DIR_NAME = re.compile(r"^seed\d+$")


def add_references_argument(parser: argparse.ArgumentParser) -> None:
    """--references FILE, shared by the CLIs."""
    parser.add_argument(
        "--references",
        type=Path,
        default=Path("results/reference_scores.csv"),
        help="reference scores (python -m distral_repro.reference); default %(default)s",
    )


def add_confirmation_argument(parser: argparse.ArgumentParser) -> None:
    """--confirmation RUN_DIR, once per confirmation run (unambiguous beside the positional RUN_DIRs)."""
    parser.add_argument(
        "--confirmation",
        action="append",
        default=[],
        metavar="RUN_DIR",
        help="a confirmation run (best grid setting, fresh seed, longer budget); repeat per run",
    )


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The --references FILE, --gridworld GW_RUN_DIR ... and RUN_DIR ... arguments shared by the CLIs."""
    add_references_argument(parser)
    parser.add_argument(
        "--gridworld",
        nargs="*",
        default=[],
        metavar="GW_RUN_DIR",
        help="grid-world run dirs (results/gridworld/{method}/seed{seed}); claim C7",
    )
    add_confirmation_argument(parser)
    parser.add_argument("run_dirs", nargs="*", metavar="RUN_DIR",
                        help="the grid's run directories (none in a study without a grid: --confirmation runs only)")


def split_run_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Give back the deep-RL run dirs that a greedy --gridworld list swallowed.

    `--gridworld G1 G2 R1 R2` parses as four grid-world dirs; grid-world run dirs are named
    seed{N} (docs/contracts.md), so the list is cut at the first name that is not.
    """
    names = [Path(d).name for d in args.gridworld]
    cut = next((i for i, n in enumerate(names) if not GRIDWORLD_DIR_NAME.match(n)), len(names))
    args.run_dirs = args.gridworld[cut:] + args.run_dirs
    args.gridworld = args.gridworld[:cut]
    if not args.run_dirs and not getattr(args, "confirmation", None):
        parser.error("at least one RUN_DIR (or --confirmation RUN_DIR) is required")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m distral_repro.analysis.aggregate",
        description="Aggregate run directories into tables, metrics.json and claim verdicts.",
    )
    parser.add_argument("--results-dir", required=True, type=Path, help="where tables/, metrics.json, claims.* go")
    parser.add_argument("--claims", type=Path, default=DEFAULT_CLAIMS,
                        help="the pre-registered primary tests (default: the repository's config/claims.yaml)")
    parser.add_argument("--aa", action="append", default=[], metavar="RUN_DIR",
                        help="an A/A check run (one algorithm and setting, seeds of its own); repeat per run")
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    split_run_arguments(parser, args)
    try:
        prereg = load_preregistration(args.claims)
        study, gridworld = load_inputs(args.run_dirs, args.gridworld, args.references, args.confirmation, args.aa)
        check_claims(prereg, study)
    except (RunFileError, MissingReferenceError, PreregistrationError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    try:
        check_results_dir(args.results_dir)
        with np.errstate(invalid="ignore"):
            written = write_outputs(args.results_dir, study, gridworld, prereg)
    except OSError as err:  # e.g. the disk filled while writing: name the file, no traceback
        print(f"error: cannot write under --results-dir {args.results_dir}: {err.strerror or err}"
              f"{f' ({err.filename})' if err.filename else ''}", file=sys.stderr)
        return 1
    print(f"wrote {len(written)} files under {args.results_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
