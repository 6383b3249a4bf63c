"""Rule register_sweep: validate the sweep file and record the sweep (see snakesweep.objective)."""

from snakesweep.logs import job_logging

# isort: split
from snakesweep.data.dataset import DataFiles
from snakesweep.objective import register

with job_logging(snakemake.log[0]):
    register(
        snakemake.params.settings,
        DataFiles.of(snakemake.input),
        snakemake.output.sweep,
        snakemake.output.retries,
    )
