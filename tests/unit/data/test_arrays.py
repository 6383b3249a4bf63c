import hashlib
import time

import numpy as np
import pytest

from snakesweep.data.arrays import array_sha256, file_sha256, load_arrays, save_arrays
from snakesweep.data.dataset import load_dataset
from snakesweep.errors import UserError


def test_same_arrays_give_the_same_bytes_at_another_time(tmp_path):
    arrays = {"b": np.arange(10, dtype=np.uint8), "a": np.ones((2, 3), np.int64)}
    save_arrays(tmp_path / "one.npz", arrays)
    time.sleep(2.1)  # zip timestamps have a 2 s resolution
    save_arrays(tmp_path / "two.npz", dict(reversed(list(arrays.items()))))
    assert (tmp_path / "one.npz").read_bytes() == (tmp_path / "two.npz").read_bytes()
    loaded = load_arrays(tmp_path / "one.npz")
    assert set(loaded) == {"a", "b"} and np.array_equal(loaded["b"], arrays["b"])


def test_array_hash_covers_dtype_and_shape():
    a = np.zeros(4, np.uint8)
    assert array_sha256(a) != array_sha256(a.reshape(2, 2))
    assert array_sha256(a) != array_sha256(a.astype(np.int8))


def _dataset(tmp_path):
    from snakesweep.atomic import write_json

    arrays = {
        f"{k}_{s}": np.arange(6, dtype=np.uint8 if k == "x" else np.int64)
        for s in ("train", "val", "test")
        for k in "xy"
    }
    save_arrays(tmp_path / "mnist.npz", arrays)
    write_json(
        tmp_path / "manifest.json", {"sha256": {k: array_sha256(v) for k, v in arrays.items()}}
    )
    return arrays


def test_load_dataset_checks_the_manifest(tmp_path):
    arrays = _dataset(tmp_path)
    assert load_dataset(tmp_path / "mnist.npz", tmp_path / "manifest.json").keys() == arrays.keys()
    arrays["x_val"] = arrays["x_val"] + 1
    save_arrays(tmp_path / "mnist.npz", arrays)
    with pytest.raises(
        UserError, match=r"mnist.npz: array x_val does not match the sha256 in .*manifest.json"
    ):
        load_dataset(tmp_path / "mnist.npz", tmp_path / "manifest.json")


def test_load_dataset_reports_a_truncated_file(tmp_path):
    _dataset(tmp_path)
    path = tmp_path / "mnist.npz"
    truncated = path.read_bytes()[:50]
    path.write_bytes(truncated)
    with pytest.raises(UserError, match=f"{path}: cannot read the dataset"):
        load_dataset(path)
    assert path.read_bytes() == truncated  # reported, not deleted or rewritten


def test_file_sha256_is_the_sha256_of_the_bytes(tmp_path):
    path = tmp_path / "abc"
    path.write_bytes(b"abc")  # the FIPS 180-2 test vector
    assert file_sha256(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    path.write_bytes(bytes(range(256)) * 8193)  # more than one 1 MiB read
    assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
