"""Rule register_sweep: validate the sweep file and record the sweep (see snakesweep.sweep.register)."""

from snakesweep.logs import job_logging
from snakesweep.sweep.register import register_sweep

with job_logging(snakemake.log[0]):
    register_sweep(
        sweep_file=snakemake.input.sweep_file,
        data_path=snakemake.input.dataset,
        manifest_path=snakemake.input.manifest,
        out_path=snakemake.output.sweep,
        retries_out=snakemake.output.retries,
        seed=snakemake.params.seed,
        controller=snakemake.params.controller,
        parallelism=snakemake.params.parallelism,
        function=snakemake.params.function,
        run_timeout=snakemake.params.run_timeout,
        train_defaults=dict(snakemake.params.train),
        project=snakemake.params.project,
        entity=snakemake.params.entity,
        wandb_mode=snakemake.params.wandb_mode,
        config_file=snakemake.params.config_file,
        train_source=snakemake.params.train_source,
    )
