"""Read the data stage's output, checking it against its manifest.

A consumer (the trainer, the aggregate) should never train or score on a file that was changed
or corrupted after the data stage wrote it: each array's sha256 is compared with the manifest.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path

import numpy as np

from snakesweep.data.arrays import array_sha256, load_arrays
from snakesweep.errors import UserError

SPLITS = ("train", "val", "test")
KEYS = tuple(f"{kind}_{split}" for split in SPLITS for kind in ("x", "y"))


@dataclasses.dataclass(frozen=True)
class DataFiles:
    """The data stage's output: the splits (`.npz`) and their manifest (with each array's
    sha256), which every reader checks them against (None: a file given by hand, unchecked)."""

    dataset: str
    manifest: str | None = None

    @classmethod
    def of(cls, inputs) -> DataFiles | None:
        """A job's dataset and manifest inputs, or None where its rule has none (the user's
        own code, which reads its own data)."""
        dataset, manifest = getattr(inputs, "dataset", None), getattr(inputs, "manifest", None)
        return cls(str(dataset), str(manifest)) if dataset and manifest else None

    def load(self) -> dict[str, np.ndarray]:
        return load_dataset(self.dataset, self.manifest)


def load_dataset(
    path: str | Path, manifest_path: str | Path | None = None
) -> dict[str, np.ndarray]:
    """The six arrays x_/y_ train/val/test: images uint8 (N, 28, 28), labels int64 (N,)."""
    try:
        arrays = load_arrays(path)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise UserError(
            f"{path}: cannot read the dataset ({err}); delete it and rerun the data stage"
        ) from err
    missing = [key for key in KEYS if key not in arrays]
    if missing:
        raise UserError(f"{path}: missing arrays {missing}; delete it and rerun the data stage")
    if manifest_path is not None:
        manifest = json.loads(Path(manifest_path).read_text())
        for key in KEYS:
            expected = manifest["sha256"][key]
            if array_sha256(arrays[key]) != expected:
                raise UserError(
                    f"{path}: array {key} does not match the sha256 in {manifest_path}; "
                    "the file was changed or corrupted: delete it and rerun the data stage"
                )
    return {key: arrays[key] for key in KEYS}
