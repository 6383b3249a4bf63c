# Sweep stage: register the sweep, then N agent jobs work through it in parallel, on CPUs,
# on the GPUs of one box, or on SLURM nodes sharing results/sweep/.


rule register_sweep:
    input:
        sweep_file=config["sweep"]["file"],
        dataset=paths.DATASET,
        manifest=paths.MANIFEST,
    output:
        sweep=paths.SWEEP,
        retries=paths.RETRIES,
    log:
        log_path("register_sweep"),
    benchmark:
        benchmark_path("register_sweep")
    localrule: True
    conda:
        CONDA_ENV
    params:
        seed=config["seed"],
        controller=config["sweep"]["controller"],
        parallelism=config["sweep"]["parallelism"],
        function=config["sweep"]["function"],
        run_timeout=config["sweep"]["run_timeout"],
        project=config["sweep"]["project"],
        entity=config["sweep"]["entity"],
        train=config["train"],
        wandb_mode=config["wandb"]["mode"],
        config_file=config_source("sweep", "controller"),
        train_source=config_source("train"),
    script:
        "../scripts/register_sweep.py"


rule agent:
    input:
        sweep=paths.SWEEP,
        retries=paths.RETRIES,
        dataset=paths.DATASET,
        manifest=paths.MANIFEST,
    output:
        summary=paths.AGENT,
    log:
        log_path("agent-{agent}"),
    benchmark:
        benchmark_path("agent-{agent}")
    wildcard_constraints:
        agent=r"\d+",
    retries: 1
    conda:
        CONDA_ENV
    threads: config["agents"]["threads"]
    resources:
        gpu=agent_gpus(),
    params:
        runs=config["agents"]["runs"],
        device=config["agents"]["device"],
        per_gpu=config["agents"]["per_gpu"],
        wandb_mode=config["wandb"]["mode"],
        heartbeat_timeout=config["sweep"]["heartbeat_timeout"],
        max_attempts=config["sweep"]["max_attempts"],
        config_file=config_source("agents", "device"),
    script:
        "../scripts/agent.py"
