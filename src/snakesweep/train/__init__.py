"""One sweep run: model, run-config validation, training loop, ONNX export and the W&B run."""
