"""Rule agent: one sweep agent (see snakesweep.agent.job)."""

from snakesweep.logs import job_logging
from snakesweep.train.wandb_run import preload_wandb

preload_wandb()  # before anything imports torch: see its docstring

from snakesweep.agent.job import run_agent_job  # noqa: E402

with job_logging(snakemake.log[0]):
    run_agent_job(
        sweep_path=snakemake.input.sweep,
        data=snakemake.input.dataset,
        manifest=snakemake.input.manifest,
        agent=snakemake.wildcards.agent,
        out_path=snakemake.output.summary,
        max_runs=snakemake.params.runs,
        device=snakemake.params.device,
        threads=snakemake.threads,
        per_gpu=snakemake.params.per_gpu,
        wandb_mode=snakemake.params.wandb_mode,
        heartbeat_timeout=snakemake.params.heartbeat_timeout,
        max_attempts=snakemake.params.max_attempts,
        config_file=snakemake.params.config_file,
    )
