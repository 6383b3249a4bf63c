"""Store named uint8 arrays in one `.npz` whose bytes depend only on the arrays.

`numpy.savez` stamps each zip member with the current time, so saving the same arrays twice
gives different files. Reproducible outputs need equal bytes for equal data: members here carry
a fixed timestamp and are written in sorted order.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile

import numpy as np

from snakesweep.atomic import atomic_write

_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can record


def save_arrays(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    with atomic_write(path) as handle:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            for name in sorted(arrays):
                buffer = io.BytesIO()
                np.lib.format.write_array(
                    buffer, np.ascontiguousarray(arrays[name]), allow_pickle=False
                )
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, buffer.getvalue(), compresslevel=6)


def load_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def array_sha256(array: np.ndarray) -> str:
    """Hash of dtype, shape and contents: what a consumer needs to trust an array."""
    digest = hashlib.sha256()
    digest.update(f"{array.dtype.str}{tuple(array.shape)}".encode())
    digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
