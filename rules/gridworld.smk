# The tabular grid-world experiment (Figure 3): Distral soft-Q vs separate soft-Q.


rule gridworld:
    output:
        summary=f"{GW_RUN_DIR}/summary.json",
        progress=f"{GW_RUN_DIR}/progress.csv",
    conda:
        CONDA_ENV
    log:
        "logs/gridworld/{method}/seed{seed}.log",
    params:
        out=lambda wildcards, output: str(Path(output.summary).parent),
        preset=PRESET,
    threads: 1
    resources:
        mem_mb=config["resources"]["gridworld"]["mem_mb"],
        runtime=config["resources"]["gridworld"]["runtime"],
    shell:
        "python -m distral_repro.gridworld --method {wildcards.method} --seed {wildcards.seed}"
        " --out {params.out:q} --preset {params.preset} > {log:q} 2>&1"


rule figure_gridworld:
    input:
        gridworld_files(),
    output:
        pdf=report(
            "paper_figures/fig3_gridworld.pdf",
            caption="report/fig3_gridworld.rst",
            category="Grid world",
        ),
        png="paper_figures/fig3_gridworld.png",
    conda:
        CONDA_ENV
    log:
        "logs/figures/fig3_gridworld.log",
    params:
        dirs=gridworld_dirs(),
    shell:
        "python -m distral_repro.tabular.figure --out {output.pdf:q} {params.dirs:q} > {log:q} 2>&1"
