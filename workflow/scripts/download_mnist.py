"""Rule download_mnist: fetch MNIST into resources/ (see snakesweep.data.fetch)."""

from pathlib import Path

from snakesweep.data.fetch import fetch_mnist
from snakesweep.logs import job_logging

with job_logging(snakemake.log[0]):
    fetch_mnist(
        source=snakemake.params.source,
        cache_dir=Path(snakemake.output.raw).parent,
        raw_path=snakemake.output.raw,
        provenance_path=snakemake.output.provenance,
        mirrors=snakemake.params.mirrors,
        timeout=snakemake.params.timeout,
        local_path=snakemake.params.path,
    )
