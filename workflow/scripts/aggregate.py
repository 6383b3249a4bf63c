"""Rule aggregate: leaderboard, best model, plots, model card (see snakesweep.aggregate)."""

from snakesweep.logs import job_logging  # first: it quiets library warnings raised on import

# isort: split
from snakesweep.aggregate.aggregate import Outputs, aggregate
from snakesweep.data.dataset import DataFiles

with job_logging(snakemake.log[0]):
    aggregate(
        snakemake.input.sweep,
        DataFiles.of(snakemake.input),
        snakemake.params.runs_dir,
        Outputs.of(snakemake.output),
    )
