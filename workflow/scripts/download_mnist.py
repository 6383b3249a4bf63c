"""Rule download_mnist: fetch MNIST into resources/ (see snakesweep.data.fetch)."""

from snakesweep.data.fetch import fetch_mnist
from snakesweep.logs import job_logging

with job_logging(snakemake.log[0]):
    fetch_mnist(snakemake.params.settings, snakemake.output.raw, snakemake.output.provenance)
