"""snakesweep: reproducible hyperparameter sweeps for PyTorch, driven by Snakemake and W&B."""

__version__ = "0.1.0"
