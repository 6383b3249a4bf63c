"""Rule agent: one sweep agent (see snakesweep.agent.job)."""

import dataclasses

from snakesweep.logs import job_logging
from snakesweep.wandb_preload import preload_wandb

preload_wandb()  # before anything imports torch: see its docstring

from snakesweep.agent.job import run_agent_job  # noqa: E402
from snakesweep.data.dataset import DataFiles  # noqa: E402

with job_logging(snakemake.log[0]):
    run_agent_job(
        # the threads Snakemake gave the job (fewer than agents.threads under a small --cores)
        dataclasses.replace(snakemake.params.settings, threads=snakemake.threads),
        snakemake.input.sweep,
        DataFiles.of(snakemake.input),
        snakemake.wildcards.agent,
        snakemake.output.summary,
    )
