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

# Sweep stage
SWEEP_DIR = f"{RESULTS}/sweep"
SWEEP = f"{SWEEP_DIR}/sweep.json"  # the registered sweep: controller, id, resolved config
SWEEP_STORES = f"{SWEEP_DIR}/stores"  # one event log per local sweep id: <id>.log
GPU_SLOTS = f"{SWEEP_DIR}/gpu-slots"
AGENT = SWEEP_DIR + "/agents/{agent}.json"  # a Snakemake wildcard pattern
RUNS_DIR = f"{RESULTS}/runs"  # one folder per run id: config.yaml, metrics.json, model.onnx
WANDB_DIR = f"{RESULTS}/wandb"  # WANDB_DIR: wandb writes its wandb/ folder here

# Aggregate stage
BEST_DIR = f"{RESULTS}/best"
BEST_MODEL = f"{BEST_DIR}/model.onnx"
BEST_RUN = f"{BEST_DIR}/best_run.json"
MODEL_CARD = f"{BEST_DIR}/README.md"
LEADERBOARD = f"{RESULTS}/leaderboard.csv"
PLOTS_DIR = f"{RESULTS}/plots"


def store_path(sweep_id: str) -> str:
    return f"{SWEEP_STORES}/{sweep_id}.log"


def agent_output(agent: int | str) -> str:
    return AGENT.format(agent=agent)
