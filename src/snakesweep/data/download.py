"""Download the real MNIST files with torchvision's own code, from configurable mirrors.

torchvision's `MNIST.download` knows the file names and their MD5 sums and tries each mirror in
turn; we reuse it, only giving it the user's mirrors. Two things are added around it: a socket
timeout (torchvision's urlopen has none, so a dead mirror could hang a job for minutes), and a
scratch directory, so a failed or corrupted download leaves nothing behind that looks complete.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from torchvision.datasets import MNIST

from snakesweep.data.mirrors import DownloadError

log = logging.getLogger(__name__)

DEFAULT_MIRRORS = tuple(MNIST.mirrors)
RESOURCES = tuple(MNIST.resources)  # (file name, md5) pairs of the four IDX .gz files


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def download_mnist(
    cache_dir: str | Path,
    mirrors: Sequence[str] = DEFAULT_MIRRORS,
    timeout: float = 10.0,
    resources: Sequence[tuple[str, str]] = RESOURCES,
) -> tuple[dict[str, np.ndarray], dict]:
    """Fetch (or reuse from `cache_dir`) the four MNIST files; return their arrays and provenance.

    The files end up in `cache_dir/MNIST/raw/`, torchvision's usual place, only once all of them
    have passed their MD5 check.
    """
    mirrors = [m if m.endswith("/") else m + "/" for m in mirrors]
    if not mirrors:
        raise DownloadError("data.mirrors is empty: give at least one MNIST mirror URL")
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    dataset_cls = type(
        "ConfiguredMNIST", (MNIST,), {"mirrors": mirrors, "resources": list(resources)}
    )
    # torchvision derives the folder from the class name; keep the standard "MNIST".
    dataset_cls.raw_folder = property(lambda self: str(Path(self.root) / "MNIST" / "raw"))

    final_raw = cache / "MNIST" / "raw"
    if _complete(final_raw, resources):
        log.info("using MNIST files already in %s", final_raw)
        root = cache
    else:
        root = Path(tempfile.mkdtemp(prefix=".download-", dir=cache))
        try:
            with _socket_timeout(timeout):
                _download_all(dataset_cls, root, mirrors, resources)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        final_raw.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(final_raw, ignore_errors=True)
        (root / "MNIST" / "raw").rename(final_raw)
        shutil.rmtree(root, ignore_errors=True)
        root = cache

    train = dataset_cls(str(root), train=True, download=False)
    test = dataset_cls(str(root), train=False, download=False)
    arrays = {
        "train_images": train.data.numpy().astype(np.uint8),
        "train_labels": train.targets.numpy().astype(np.int64),
        "test_images": test.data.numpy().astype(np.uint8),
        "test_labels": test.targets.numpy().astype(np.int64),
    }
    provenance = {
        "source": "download",
        "mirrors": mirrors,
        "files": {name: {"md5": md5} for name, md5 in resources},
        "loader": "torchvision.datasets.MNIST",
    }
    return arrays, provenance


def _complete(raw: Path, resources: Sequence[tuple[str, str]]) -> bool:
    from torchvision.datasets.utils import check_integrity

    return all(check_integrity(str(raw / name), md5) for name, md5 in resources)


def _download_all(dataset_cls, root: Path, mirrors: list[str], resources) -> None:
    """One file at a time, each from the first mirror that delivers it intact.

    torchvision's own loop reports failures only as a block of text; doing the loop here lets the
    error name every URL that was tried and why it failed.
    """
    from urllib.error import URLError

    from torchvision.datasets.utils import download_and_extract_archive

    raw = Path(root) / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for filename, md5 in resources:
        failures = []
        for mirror in mirrors:
            url = f"{mirror}{filename}"
            try:
                download_and_extract_archive(
                    url, download_root=str(raw), filename=filename, md5=md5
                )
            except (RuntimeError, URLError, OSError) as err:
                reason = (
                    "checksum mismatch (MD5 " + md5 + " expected)"
                    if "corrupted" in str(err)
                    else str(err)
                )
                failures.append(f"{url}: {reason}")
                (raw / filename).unlink(missing_ok=True)
                continue
            log.info("downloaded %s", url)
            break
        else:
            raise DownloadError("could not download MNIST (data.mirrors): " + "; ".join(failures))
