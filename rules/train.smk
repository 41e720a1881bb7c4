# One job per (environment, algorithm, beta, lr, seed): `python -m distral_repro.train`.
# A killed job, rerun, resumes from the checkpoint.pt left in its run directory.


rule train:
    output:
        summary=f"{RUN_DIR}/summary.json",
        progress=f"{RUN_DIR}/progress.csv",
    conda:
        CONDA_ENV
    log:
        "logs/train/{env}/{algo}/beta{beta}_lr{lr}_seed{seed}.log",
    params:
        out=lambda wildcards, output: str(Path(output.summary).parent),
        preset=PRESET,
    threads: config["threads"]
    resources:
        mem_mb=config["resources"]["train"]["mem_mb"],
        runtime=config["resources"]["train"]["runtime"],
    shell:
        "python -m distral_repro.train --algo {wildcards.algo:q} --env {wildcards.env}"
        " --beta {wildcards.beta} --lr {wildcards.lr} --seed {wildcards.seed}"
        " --out {params.out:q} --preset {params.preset} --threads {threads} > {log:q} 2>&1"
