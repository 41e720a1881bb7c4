# The Distral study: 378 grid training jobs (7 algorithms x 3 environments x 3 beta x 3 lr
# x 2 seeds; the paper's 4 seeds, 756 jobs, with --config seeds=[0,1,2,3]), then the confirmation runs (each algorithm's best setting per environment,
# fresh seeds, a longer budget), the grid-world experiment, tables, claim verdicts and the
# paper's figures.
#
#   snakemake --cores all                          the default grid (config/config.yaml)
#   snakemake --cores all --config preset=smoke    tiny budgets: the end-to-end test
#   snakemake --cores all --profile slurm          the same on a Slurm cluster
#   snakemake paper_figures/fig4_maze.pdf          one figure and only the jobs it needs
#   snakemake --cores all --configfile config/long_horizon.yaml
#                                                  the long-horizon study, in studies/long_horizon/
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/train.smk"
include: "rules/gridworld.smk"
include: "rules/analysis.smk"


localrules:
    all,
    family_definition,
    aggregate,
    figure_fig4,
    figure_profile,
    reference_scores,
    select_settings,
    figure_pi0,
    figure_overview,
    figure_gridworld,


onstart:
    # The runs of this invocation, for `python -m distral_repro.status` (done/total, ETA).
    write_study_manifest()
    # Local runs: training jobs fork from one process that imported torch (docs/workflow.md, "One import of torch").
    FORKSERVER.append(start_forkserver())


onsuccess:
    stop_forkservers()
    remove_final_checkpoints()


onerror:
    stop_forkservers()


rule all:
    input:
        "results/metrics.json",
        "results/claims.md",
        expand("paper_figures/{name}.pdf", name=FIGURES),
        # a study whose settings another study chose: the rows it took (confirmation.selection_from)
        [SELECTION.format(env=env) for env in SELECTED],
