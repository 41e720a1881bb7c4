# One job per (environment, algorithm, beta, lr, seed): `python -m distral_repro.train`.
# A killed job, rerun, resumes from the checkpoint.pt left in its run directory.


rule family_definition:
    output:
        FAMILY_FILE,
    log:
        "logs/families/{env}.log",
    params:
        # The definition itself: editing it reruns this rule and so every run of the family.
        definition=lambda wildcards: FAMILIES[wildcards.env],
    run:
        write_family_file(wildcards.env, params.definition, output[0], log[0])


rule train:
    input:
        family=lambda wildcards: [FAMILY_FILE.format(env=wildcards.env)] if wildcards.env in FAMILIES else [],
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
        env_file=lambda wildcards, input: f"--env-file {input.family}" if input.family else "",
    threads: config["threads"]
    resources:
        mem_mb=config["resources"]["train"]["mem_mb"],
        runtime=config["resources"]["train"]["runtime"],
    shell:
        "python -m distral_repro.train --algo {wildcards.algo:q} --env {wildcards.env}"
        " --beta {wildcards.beta} --lr {wildcards.lr} --seed {wildcards.seed}"
        " --out {params.out:q} --preset {params.preset} {params.env_file} --threads {threads} > {log:q} 2>&1"
