# Sweep stage: register the sweep, then N agent jobs work through it in parallel, on CPUs,
# on the GPUs of one box, or on SLURM nodes sharing results/sweep/.


rule register_sweep:
    input:
        **data_inputs(),
        sweep_file=config["sweep"]["file"],
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
        settings=SETTINGS.register(),
    script:
        "../scripts/register_sweep.py"


rule agent:
    input:
        **data_inputs(),
        sweep=paths.SWEEP,
        retries=paths.RETRIES,
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
        settings=SETTINGS.agent(),
    script:
        "../scripts/agent.py"
