"""Rule agent: one sweep agent (see snakesweep.agent.job)."""

import dataclasses
import logging
import sys

from snakesweep.logs import job_logging
from snakesweep.wandb_preload import preload_wandb

preload_wandb()  # before anything imports torch: see its docstring

from snakesweep.agent.job import run_agent_job  # noqa: E402
from snakesweep.data.dataset import DataFiles  # noqa: E402
from snakesweep.stopping import Interrupted  # noqa: E402

with job_logging(snakemake.log[0]):
    try:
        run_agent_job(
            # the threads Snakemake gave the job (fewer than agents.threads under a small --cores)
            dataclasses.replace(snakemake.params.settings, threads=snakemake.threads),
            snakemake.input.sweep,
            DataFiles.of(snakemake.input),
            snakemake.wildcards.agent,
            snakemake.output.summary,
        )
    except Interrupted as stop:  # its run is recorded interrupted; the next try resumes it
        logging.getLogger("snakesweep.agent").warning("agent %s", stop)
        sys.exit(128 + stop.signum)
