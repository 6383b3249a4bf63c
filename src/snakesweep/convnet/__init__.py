"""The built-in objective: the ConvNet of the W&B PyTorch intro, its training loop, one run end
to end (train, ONNX export and check, its W&B run), and what a sweep needs to know of it."""
