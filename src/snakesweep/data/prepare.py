"""Turn the fetched source into the dataset every run trains on, and describe it in a manifest.

The manifest records where the data came from (source, path or URLs, each file's MD5) and a
sha256 of every split, which each consumer checks before it trains or scores.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from snakesweep.atomic import write_json
from snakesweep.data.arrays import array_sha256, load_arrays, save_arrays
from snakesweep.data.dataset import DataFiles
from snakesweep.data.subsample import class_counts, make_splits
from snakesweep.settings import SplitSettings

log = logging.getLogger(__name__)


def prepare_dataset(
    settings: SplitSettings,
    raw_path: str | Path,
    provenance_path: str | Path,
    dataset: DataFiles,
) -> dict:
    """Split the fetched arrays into `dataset`'s file and describe them in its manifest."""
    seed, fraction = settings.seed, settings.fraction
    val_fraction, test_fraction = settings.val_fraction, settings.test_fraction
    raw = load_arrays(raw_path)
    provenance = json.loads(Path(provenance_path).read_text())
    splits = make_splits(raw, seed, fraction, val_fraction, test_fraction)
    has_test_split = "test_images" in raw  # the full MNIST (download or local copy)
    manifest = {
        "source": provenance,
        "seed": seed,
        "fraction": fraction if has_test_split else 1.0,
        "val_fraction": val_fraction,
        "test_fraction": None if has_test_split else test_fraction,
        "counts": {
            split: {
                "total": int(len(splits[f"y_{split}"])),
                "per_class": class_counts(splits[f"y_{split}"]),
            }
            for split in ("train", "val", "test")
        },
        "sha256": {name: array_sha256(array) for name, array in sorted(splits.items())},
    }
    if "fallback" in provenance:
        manifest["warning"] = (
            f"{provenance['source']} source used because " + provenance["fallback"]
        )
    # The manifest is written last: its presence means the dataset beside it is complete.
    save_arrays(dataset.dataset, splits)
    write_json(dataset.manifest, manifest)
    counts = {split: manifest["counts"][split]["total"] for split in ("train", "val", "test")}
    log.info("dataset from %s source: %s", provenance["source"], counts)
    return manifest
