"""The local source: MNIST's IDX files from a folder, checked by MD5, in every form and layout."""

import gzip
import hashlib
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from snakesweep.data.arrays import load_arrays
from snakesweep.data.dataset import DataFiles
from snakesweep.data.fetch import Expected, fetch_mnist, source_order
from snakesweep.data.local import LocalDataError, load_local
from snakesweep.data.prepare import prepare_dataset
from snakesweep.errors import UserError
from snakesweep.settings import Config

GENUINE = Path(__file__).resolve().parents[4] / "shared" / "data" / "mnist"
SIZES = {"train": 50, "t10k": 20}


def _idx_files(seed: int = 0) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    files = {}
    for prefix, n in SIZES.items():
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        files[f"{prefix}-images-idx3-ubyte"] = (
            struct.pack(">IIII", 0x803, n, 28, 28) + images.tobytes()
        )
        files[f"{prefix}-labels-idx1-ubyte"] = struct.pack(">II", 0x801, n) + labels.tobytes()
    return files


def _checksums(files: dict[str, bytes]) -> dict[str, tuple[str, str]]:
    md5 = lambda data: hashlib.md5(data).hexdigest()  # noqa: E731
    return {name: (md5(gzip.compress(data, mtime=0)), md5(data)) for name, data in files.items()}


def _stage(
    folder: Path, files: dict[str, bytes], gz: bool, torchvision_layout: bool, mtime: int = 0
) -> Path:
    target = folder / "MNIST" / "raw" if torchvision_layout else folder
    target.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        if gz:
            (target / f"{name}.gz").write_bytes(gzip.compress(data, mtime=mtime))
        else:
            (target / name).write_bytes(data)
    return folder


def _outputs(tmp_path):
    cache = tmp_path / "resources" / "mnist"
    return {"raw_path": cache / "raw.npz", "provenance_path": cache / "source.json"}


def _fetch(source, out, root, checksums, mirrors=(), timeout=1):
    """`fetch_mnist` with `data.source`, the local copy `root` as `data.path`, and `mirrors`."""
    data = {"source": source, "path": str(root), "mirrors": list(mirrors), "timeout": timeout}
    settings = Config({"data": data}).fetch()
    expected = Expected(checksums=checksums)
    return fetch_mnist(settings, out["raw_path"], out["provenance_path"], expected)


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "plain"])
@pytest.mark.parametrize("torchvision_layout", [True, False], ids=["MNIST-raw", "flat"])
def test_reads_every_form_and_layout(tmp_path, gz, torchvision_layout):
    files = _idx_files()
    root = _stage(tmp_path / "copy", files, gz, torchvision_layout)
    arrays, provenance = load_local(root, _checksums(files))
    assert arrays["train_images"].shape == (50, 28, 28) and arrays["train_images"].dtype == np.uint8
    expected = np.frombuffer(files["train-images-idx3-ubyte"][16:], np.uint8).reshape(50, 28, 28)
    assert np.array_equal(arrays["train_images"], expected)
    assert arrays["test_labels"].tolist() == [i % 10 for i in range(20)]
    assert provenance["source"] == "local" and provenance["path"] == str(root.resolve())
    suffix = ".gz" if gz else ""
    name = f"t10k-images-idx3-ubyte{suffix}"
    assert (
        provenance["files"][name]["md5"]
        == _checksums(files)["t10k-images-idx3-ubyte"][0 if gz else 1]
    )


def test_recompressed_gz_passes_on_its_uncompressed_md5(tmp_path):
    files = _idx_files()
    root = _stage(
        tmp_path / "copy", files, gz=True, torchvision_layout=False, mtime=12345
    )  # other .gz bytes
    arrays, provenance = load_local(root, _checksums(files))
    assert len(arrays["train_labels"]) == 50
    recorded = provenance["files"]["train-labels-idx1-ubyte.gz"]["md5"]
    assert recorded != _checksums(files)["train-labels-idx1-ubyte"][0]


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "plain"])
def test_corrupted_file_is_named_with_its_md5_and_nothing_is_written(tmp_path, gz):
    files = _idx_files()
    checksums = _checksums(files)
    root = _stage(tmp_path / "copy", files, gz, torchvision_layout=True)
    victim = root / "MNIST" / "raw" / ("t10k-images-idx3-ubyte" + (".gz" if gz else ""))
    corrupted = _idx_files(seed=1)["t10k-images-idx3-ubyte"]
    victim.write_bytes(gzip.compress(corrupted, mtime=0) if gz else corrupted)
    out = _outputs(tmp_path)
    with pytest.raises(LocalDataError) as info:
        _fetch("local", out, root, checksums)
    message = str(info.value)
    assert str(victim) in message and checksums["t10k-images-idx3-ubyte"][1] in message
    assert "\n" not in message
    assert not out["raw_path"].exists() and not out["provenance_path"].exists()


def test_missing_file_is_named(tmp_path):
    files = _idx_files()
    root = _stage(tmp_path / "copy", files, gz=True, torchvision_layout=False)
    (root / "train-labels-idx1-ubyte.gz").unlink()
    out = _outputs(tmp_path)
    with pytest.raises(
        LocalDataError, match="train-labels-idx1-ubyte or train-labels-idx1-ubyte.gz is missing"
    ):
        _fetch("local", out, root, _checksums(files))
    assert not out["raw_path"].exists()


def test_fetch_writes_the_local_arrays_and_their_provenance(tmp_path):
    files = _idx_files()
    root = _stage(tmp_path / "copy", files, gz=False, torchvision_layout=False)
    out = _outputs(tmp_path)
    provenance = _fetch("local", out, root, _checksums(files))
    assert json.loads(out["provenance_path"].read_text()) == provenance
    assert load_arrays(out["raw_path"])["train_images"].shape == (50, 28, 28)
    split = Config({"seed": 0, "data": {"fraction": 0.5, "val_fraction": 0.2}}).split()
    dataset = DataFiles(str(tmp_path / "d.npz"), str(tmp_path / "m.json"))
    manifest = prepare_dataset(split, out["raw_path"], out["provenance_path"], dataset)
    assert json.loads((tmp_path / "m.json").read_text()) == manifest
    assert dataset.load()["x_train"].shape == (20, 28, 28)  # checked against its manifest
    assert manifest["source"]["source"] == "local" and manifest["source"]["path"] == str(
        root.resolve()
    )
    assert (
        manifest["source"]["files"]["t10k-labels-idx1-ubyte"]["md5"]
        == _checksums(files)["t10k-labels-idx1-ubyte"][1]
    )
    assert (
        manifest["fraction"] == 0.5 and manifest["test_fraction"] is None
    )  # MNIST's own test split, halved
    assert manifest["counts"]["test"]["total"] == 10 and manifest["counts"]["train"]["total"] == 20


def test_auto_tries_the_local_copy_then_the_next_source(tmp_path):
    files = _idx_files()
    root = _stage(tmp_path / "copy", files, gz=True, torchvision_layout=True)
    (root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()
    dead = "http://127.0.0.1:9/"  # the discard port: nothing listens, refused at once
    out = _outputs(tmp_path)
    provenance = _fetch("auto", out, root, _checksums(files), mirrors=[dead], timeout=2)
    assert provenance["source"] == "bundled"
    assert "t10k-labels-idx1-ubyte" in provenance["fallback"] and dead in provenance["fallback"]


def test_source_order():
    assert source_order("auto", "/data") == ("local", "download", "bundled")
    assert source_order("auto", None) == ("download", "bundled")
    assert source_order("local", "/data") == ("local",)
    with pytest.raises(UserError, match="data.path is not set"):
        source_order("local", None)


@pytest.mark.skipif(not GENUINE.is_dir(), reason="no genuine MNIST copy at ../shared/data/mnist")
def test_genuine_mnist():
    arrays, provenance = load_local(GENUINE)
    assert arrays["train_images"].shape == (60000, 28, 28) and arrays["test_images"].shape == (
        10000,
        28,
        28,
    )
    assert np.bincount(arrays["train_labels"]).tolist() == [
        5923,
        6742,
        5958,
        6131,
        5842,
        5421,
        5918,
        6265,
        5851,
        5949,
    ]
    assert np.bincount(arrays["test_labels"]).tolist() == [
        980,
        1135,
        1032,
        1010,
        982,
        892,
        958,
        1028,
        974,
        1009,
    ]
    assert (
        provenance["files"]["t10k-labels-idx1-ubyte.gz"]["md5"]
        == "ec29112dd5afa0611ce80d1b7f02629c"
    )
