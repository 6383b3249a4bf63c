"""Every file the workflow reads or writes, named once.

The Snakemake rules import these names and the Python code uses the same ones, so a path is
never spelled twice. All paths are relative to the workflow's working directory.
"""

RESOURCES = "resources"
RESULTS = "results"

# Data stage
MNIST_CACHE = f"{RESOURCES}/mnist"  # torchvision's raw IDX downloads live under here
MNIST_RAW = f"{MNIST_CACHE}/raw.npz"  # the full source as uint8 arrays, whatever the source
MNIST_SOURCE = f"{MNIST_CACHE}/source.json"  # where that came from (URL or package version)
DATA_DIR = f"{RESULTS}/data"
DATASET = f"{DATA_DIR}/mnist.npz"  # the seeded, stratified train/val/test splits
MANIFEST = f"{DATA_DIR}/manifest.json"

LOGS = f"{RESULTS}/logs"
BENCHMARKS = f"{RESULTS}/benchmarks"
