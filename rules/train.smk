# One job per (environment, algorithm, beta, lr, seed): `python -m distral_repro.train`;
# and one per confirmation run (stage 2).
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
        family=family_input,
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
        steps=lambda wildcards: f"--steps-per-task {STEPS_OVERRIDE[wildcards.env]}" if wildcards.env in STEPS_OVERRIDE else "",
    threads: config["threads"]
    resources:
        mem_mb=TRAIN_RESOURCES["mem_mb"],
        runtime=TRAIN_RESOURCES["runtime"],
    # A job longer than one submission (resources.train.total_minutes > runtime) is cut at the
    # time limit (SIGTERM: checkpoint written, exit 143) and resubmitted; each resumes from it.
    retries: TRAIN_RETRIES
    shell:
        TRAIN_SHELL


# Stage 2 (docs/workflow.md, "Two stages"): a best grid setting (checkpoint select_settings), a fresh
# seed, the environment's confirmation budget. Same command, same resume after a kill.
rule train_confirmation:
    input:
        family=family_input,
    output:
        summary=f"{CONFIRM_RUN_DIR}/summary.json",
        progress=f"{CONFIRM_RUN_DIR}/progress.csv",
    wildcard_constraints:
        env=_alternatives(CONFIRM_STEPS) or "(?!)",
    conda:
        CONDA_ENV
    log:
        "logs/confirmation/{env}/{algo}/beta{beta}_lr{lr}_seed{seed}.log",
    params:
        out=lambda wildcards, output: str(Path(output.summary).parent),
        preset=PRESET,
        env_file=lambda wildcards, input: f"--env-file {input.family}" if input.family else "",
        steps=lambda wildcards: CONFIRM_STEPS[wildcards.env],
    threads: config["threads"]
    resources:
        mem_mb=TRAIN_RESOURCES["mem_mb"],
        runtime=TRAIN_RESOURCES["runtime"],
    shell:
        CONFIRMATION_SHELL
