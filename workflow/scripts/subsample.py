"""Rule subsample: seeded, stratified train/val/test splits (see snakesweep.data.prepare)."""

from snakesweep.data.prepare import prepare_dataset
from snakesweep.logs import job_logging

with job_logging(snakemake.log[0]):
    prepare_dataset(
        raw_path=snakemake.input.raw,
        provenance_path=snakemake.input.provenance,
        dataset_path=snakemake.output.dataset,
        manifest_path=snakemake.output.manifest,
        seed=snakemake.params.seed,
        fraction=snakemake.params.fraction,
        val_fraction=snakemake.params.val_fraction,
        test_fraction=snakemake.params.test_fraction,
    )
