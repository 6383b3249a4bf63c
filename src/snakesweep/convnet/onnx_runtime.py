"""onnxruntime on an exported model: the one batched loop every check and score uses.

Torch-free, so the aggregate scores the best model without importing torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

INPUT_NAME = "images"  # float32 (N, 1, 28, 28), pixels in [0, 1]
OUTPUT_NAME = "logits"


def ort_session(path: str | Path, threads: int | None = 1):
    """An onnxruntime CPU session for `path`, quiet, with a fixed thread count."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_logits(session, images: np.ndarray, batch: int = 1000) -> np.ndarray:
    """Logits for uint8 images (N, 28, 28), fed as the model expects: (N, 1, 28, 28) floats in
    [0, 1], converted one batch at a time so a 10,000-image split never sits in memory as floats."""
    out = []
    for start in range(0, len(images), batch):
        x = images[start : start + batch].astype(np.float32)[:, None, :, :] / np.float32(255.0)
        out.append(session.run([OUTPUT_NAME], {INPUT_NAME: x})[0])
    return np.concatenate(out) if out else np.empty((0, 10), np.float32)


def onnx_accuracy(
    path: str | Path, images: np.ndarray, labels: np.ndarray, threads: int = 1
) -> float:
    """Test accuracy of an exported model by onnxruntime: what a consumer of the file gets."""
    logits = onnx_logits(ort_session(path, threads), images)
    return int((logits.argmax(axis=1) == labels).sum()) / len(images)
