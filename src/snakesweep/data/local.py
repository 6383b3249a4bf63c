"""The local source: MNIST's four IDX files from a folder someone staged (a cluster's shared disk).

Compute nodes often have no internet; the dataset sits on a shared filesystem, either as the
four IDX files (gzipped or not) or as a torchvision root that someone downloaded once
(`<root>/MNIST/raw/`). Both layouts are accepted, and both forms of each file.

Every file is checked before it is read. A `.gz` passes when its own MD5 is torchvision's, or,
failing that, when its decompressed content has the published MD5 of the uncompressed file: a
re-compressed copy (another gzip level or timestamp) holds the same digits under another
`.gz` MD5. An uncompressed file must have the published MD5. Reading and hashing use
torchvision's own IDX reader and MD5 helper.
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from snakesweep.errors import UserError

# name (without .gz) -> (torchvision's MD5 of the .gz, the published MD5 of the uncompressed file)
CHECKSUMS: dict[str, tuple[str, str]] = {
    "train-images-idx3-ubyte": (
        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "6bbc9ace898e44ae57da46a324031adb",
    ),
    "train-labels-idx1-ubyte": (
        "d53e105ee54ea40749a09fcbcd1e9432",
        "a25bea736e30d166cdddb491f175f624",
    ),
    "t10k-images-idx3-ubyte": (
        "9fb629c4189551a2d022fa330f9573f3",
        "2646ac647ad5339dbf082846283269ea",
    ),
    "t10k-labels-idx1-ubyte": (
        "ec29112dd5afa0611ce80d1b7f02629c",
        "27ae3e4e09519cfbb04c329615203637",
    ),
}
# The array each file becomes, named as the download's arrays are.
ARRAYS = {
    "train-images-idx3-ubyte": "train_images",
    "train-labels-idx1-ubyte": "train_labels",
    "t10k-images-idx3-ubyte": "test_images",
    "t10k-labels-idx1-ubyte": "test_labels",
}


class LocalDataError(UserError):
    """A file of the local copy is missing or is not the file its MD5 says."""


def locate(root: Path, name: str) -> Path | None:
    """Where `name` is under `root`: flat or in torchvision's MNIST/raw, uncompressed first
    (no decompression needed), then gzipped; None when it is in neither place."""
    for folder in (root, root / "MNIST" / "raw"):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def load_local(
    path: str | Path, checksums: Mapping[str, tuple[str, str]] = CHECKSUMS
) -> tuple[dict[str, np.ndarray], dict]:
    """The four arrays from the local copy at `path`, and their provenance (path, file, MD5s).

    Raises LocalDataError naming the first missing or corrupted file and the MD5 it should have.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise LocalDataError(
            f"data.path {root}: no such folder (expected the four MNIST IDX files)"
        )
    arrays, files = {}, {}
    with tempfile.TemporaryDirectory(prefix="snakesweep-mnist-") as scratch:
        for name, (gz_md5, raw_md5) in checksums.items():
            found = locate(root, name)
            if found is None:
                raise LocalDataError(
                    f"data.path {root}: {name} or {name}.gz is missing (looked in {root} and "
                    f"{root / 'MNIST' / 'raw'}; expected MD5 {raw_md5} uncompressed)"
                )
            plain, md5 = _checked_plain_file(found, name, gz_md5, raw_md5, Path(scratch))
            arrays[ARRAYS[name]] = _read_idx(plain, name)
            files[found.name] = {"md5": md5, "uncompressed_md5": raw_md5}
    provenance = {
        "source": "local",
        "path": str(root.resolve()),
        "files": files,
        "loader": "torchvision IDX reader",
    }
    return arrays, provenance


def _checked_plain_file(
    found: Path, name: str, gz_md5: str, raw_md5: str, scratch: Path
) -> tuple[Path, str]:
    """The uncompressed file to read (in `scratch` for a .gz) and the MD5 of `found` itself."""
    from torchvision.datasets.utils import calculate_md5

    md5 = calculate_md5(str(found))
    if found.suffix != ".gz":
        if md5 != raw_md5:
            raise LocalDataError(
                f"{found}: MD5 {md5} is not the expected {raw_md5}; the file is corrupted or not "
                "MNIST's"
            )
        return found, md5
    plain = scratch / name
    try:
        with gzip.open(found, "rb") as src, open(plain, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except (OSError, EOFError) as err:
        raise LocalDataError(
            f"{found}: cannot decompress ({err}); expected MD5 {gz_md5} (.gz) or {raw_md5} "
            "uncompressed"
        ) from err
    if md5 != gz_md5 and calculate_md5(str(plain)) != raw_md5:
        raise LocalDataError(
            f"{found}: MD5 {md5} is not the expected {gz_md5}, and its content is not the "
            f"expected {raw_md5} "
            "uncompressed; the file is corrupted or not MNIST's"
        )
    return plain, md5


def _read_idx(plain: Path, name: str) -> np.ndarray:
    from torchvision.datasets.mnist import read_image_file, read_label_file

    reader = read_image_file if "images" in name else read_label_file
    tensor = reader(str(plain))
    return tensor.numpy().astype(np.uint8 if "images" in name else np.int64)
