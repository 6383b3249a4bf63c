"""Rule subsample: seeded, stratified train/val/test splits (see snakesweep.data.prepare)."""

from snakesweep.data.dataset import DataFiles
from snakesweep.data.prepare import prepare_dataset
from snakesweep.logs import job_logging

with job_logging(snakemake.log[0]):
    prepare_dataset(
        snakemake.params.settings,
        snakemake.input.raw,
        snakemake.input.provenance,
        DataFiles(snakemake.output.dataset, snakemake.output.manifest),
    )
