# Aggregation and figures: read only the run files, never train.
import shlex

# The grid's tables (none in a study without a grid: SELECTION_FROM), then the primary tests'.
GRID_TABLES = [] if SELECTION_FROM else ["all_runs", "settings", "best_settings", "best_settings_returns",
                                         "probability_of_improvement"]
TABLES = GRID_TABLES + ["primary_tests"]
# The pre-registered primary tests of the claims (docs/statistics.md; config key `claims`).
CLAIMS_FILE = repo_file(CLAIMS)
REFERENCES = "results/reference_scores.csv"


# The uniform-random and scripted policies' returns on every task of the preset: the 0 and 1
# of every normalised score (seconds per family).
rule reference_scores:
    input:
        families=[FAMILY_FILE.format(env=env) for env in ENVS if env in FAMILIES],
    output:
        REFERENCES,
    conda:
        CONDA_ENV
    log:
        "logs/reference_scores.log",
    params:
        preset=PRESET,
        envs=ENVS,
        env_files=lambda wildcards, input: " ".join(f"--env-file {f}" for f in input.families),
    shell:
        "python -m distral_repro.reference --preset {params.preset} --out {output:q} {params.env_files}"
        " {params.envs} > {log:q} 2>&1"


# Stage 1 -> stage 2: per env, each algorithm's best grid setting (fewest diverged, then the
# highest mean score over the last quarter of the curve: the tables' rule too), read by
# confirmation_dirs() to know the confirmation runs. With SELECTION_FROM (no grid): the rows of
# this study's algorithms copied from that study's table, the record of the settings it reran.
SELECT_SHELL = (
    "python -m distral_repro.analysis.select --env {wildcards.env} --from {input.published:q} --algos "
    + " ".join(shlex.quote(algo) for algo in ALGOS) + " --out {output:q} > {log:q} 2>&1"
    if SELECTION_FROM else
    "python -m distral_repro.analysis.select --env {wildcards.env} --references {input.references:q}"
    " --out {output:q} {params.runs:q} > {log:q} 2>&1"
)


checkpoint select_settings:
    input:
        unpack(selection_input),
    output:
        SELECTION,
    conda:
        CONDA_ENV
    log:
        "logs/selection/{env}.log",
    params:
        runs=lambda wildcards: run_dirs([wildcards.env]),
    shell:
        SELECT_SHELL


CONFIRMATION_TABLES = ["confirmation_runs", "confirmation", "confirmation_probability_of_improvement"] if CONFIRM_STEPS else []


rule aggregate:
    input:
        run_files(),
        gridworld_files(),
        references=REFERENCES,
        claims=CLAIMS_FILE,
        confirmation=lambda wildcards: confirmation_files(),
        aa=lambda wildcards: aa_files(),
    output:
        tables=expand("results/tables/{name}.{ext}", name=TABLES + CONFIRMATION_TABLES, ext=("csv", "md")),
        curves="results/tables/learning_curves.csv",
        profiles=[] if SELECTION_FROM else "results/tables/performance_profiles.csv",
        metrics="results/metrics.json",
        claims_csv="results/claims.csv",
        claims_md=report("results/claims.md", caption="report/claims.rst", category="Claims"),
    conda:
        CONDA_ENV
    log:
        "logs/aggregate.log",
    params:
        runs=run_dirs(),
        gridworld=gridworld_dirs(),
        confirmation=lambda wildcards, input: confirmation_arguments(input.confirmation),
        aa=lambda wildcards, input: confirmation_arguments(input.aa, "--aa"),
    shell:
        "python -m distral_repro.analysis.aggregate --results-dir results --references {input.references:q}"
        " --claims {input.claims:q} {params.confirmation} {params.aa}"
        " --gridworld {params.gridworld:q} -- {params.runs:q} > {log:q} 2>&1"


rule figure_fig4:
    input:
        lambda wildcards: run_files([wildcards.env]),
        references=REFERENCES,
        confirmation=lambda wildcards: confirmation_files([wildcards.env]),
    output:
        pdf=report(
            "paper_figures/fig4_{env}.pdf",
            caption="report/fig4.rst",
            category="Figure 4",
            subcategory="{env}",
        ),
        png="paper_figures/fig4_{env}.png",
    conda:
        CONDA_ENV
    log:
        "logs/figures/fig4_{env}.log",
    params:
        runs=lambda wildcards: run_dirs([wildcards.env]),
        confirmation=lambda wildcards, input: confirmation_arguments(input.confirmation),
    shell:
        "python -m distral_repro.analysis.figures fig4 --env {wildcards.env} --out {output.pdf:q}"
        " --references {input.references:q} {params.confirmation} {params.runs:q} > {log:q} 2>&1"


rule figure_profile:
    input:
        lambda wildcards: run_files([wildcards.env]),
        references=REFERENCES,
    output:
        pdf=report(
            "paper_figures/profile_{env}.pdf",
            caption="report/profile.rst",
            category="Performance profiles",
            subcategory="{env}",
        ),
        png="paper_figures/profile_{env}.png",
    conda:
        CONDA_ENV
    log:
        "logs/figures/profile_{env}.log",
    params:
        runs=lambda wildcards: run_dirs([wildcards.env]),
    shell:
        "python -m distral_repro.analysis.figures profile --env {wildcards.env} --out {output.pdf:q}"
        " --references {input.references:q} {params.runs:q} > {log:q} 2>&1"


rule figure_pi0:
    input:
        run_files(["maze"]),
        references=REFERENCES,
        confirmation=lambda wildcards: confirmation_files(["maze"]),
    output:
        pdf=report("paper_figures/fig4_maze_pi0.pdf", caption="report/fig4_maze_pi0.rst", category="Figure 4"),
        png="paper_figures/fig4_maze_pi0.png",
    conda:
        CONDA_ENV
    log:
        "logs/figures/fig4_maze_pi0.log",
    params:
        runs=run_dirs(["maze"]),
        confirmation=lambda wildcards, input: confirmation_arguments(input.confirmation),
    shell:
        "python -m distral_repro.analysis.figures pi0 --out {output.pdf:q} --references {input.references:q}"
        " {params.confirmation} {params.runs:q} > {log:q} 2>&1"


rule figure_overview:
    input:
        run_files(),
        gridworld_files(),
        references=REFERENCES,
        claims="results/claims.csv",
        confirmation=lambda wildcards: confirmation_files(),
    output:
        pdf=report("paper_figures/overview.pdf", caption="report/overview.rst", category="Overview"),
        png="paper_figures/overview.png",
    conda:
        CONDA_ENV
    log:
        "logs/figures/overview.log",
    params:
        runs=run_dirs(),
        gridworld=gridworld_dirs(),
        confirmation=lambda wildcards, input: confirmation_arguments(input.confirmation),
    shell:
        "python -m distral_repro.analysis.figures overview --results-dir results --out {output.pdf:q}"
        " --references {input.references:q} {params.confirmation}"
        " --gridworld {params.gridworld:q} -- {params.runs:q} > {log:q} 2>&1"
