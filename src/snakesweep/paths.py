"""Every file the workflow reads or writes, named once.

The Snakemake rules import these names and the Python code uses the same ones, so a path is
never spelled twice. The workflow's files are relative to its working directory: the checkout's
root, or the user's own project folder. What ships with snakesweep (the workflow, its schemas,
the default config and sweep, the SLURM profile, the examples) is read from the installed
package, `PACKAGE`, never from a checkout: in the checkout those are links from
`src/snakesweep/` to the top-level folders, and a wheel holds the files themselves.
"""

from pathlib import Path

PACKAGE = Path(__file__).parent  # the installed package (in the checkout, src/snakesweep)

# Shipped with the package
WORKFLOW_SNAKEFILE = PACKAGE / "Snakefile"  # the workflow, for `module snakesweep: snakefile:`
RUN_SCHEMA = (
    PACKAGE / "workflow/schemas/run.schema.yaml"
)  # every run hyperparameter, with its default
CONFIG_SCHEMA = PACKAGE / "workflow/schemas/config.schema.yaml"  # what configs/config.yaml may hold
DEFAULT_CONFIG = PACKAGE / "configs/config.yaml"
SLURM_PROFILE = PACKAGE / "slurm/profile.yaml"
EXAMPLE = PACKAGE / "examples/digits-program"  # what `snakesweep init` puts in an empty folder

# Inputs, in the working directory
CONFIG_FILE = "configs/config.yaml"  # the workflow's `configfile:`

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
# `snakesweep retry`'s requests: newer than the agents' outputs, it makes snakemake rerun them
RETRIES = f"{SWEEP_DIR}/retries.jsonl"
SWEEP_STORES = f"{SWEEP_DIR}/stores"  # one event log per local sweep id: <id>.log
GPU_SLOTS = f"{SWEEP_DIR}/gpu-slots"
AGENT = SWEEP_DIR + "/agents/{agent}.json"  # a Snakemake wildcard pattern
RUNS_DIR = f"{RESULTS}/runs"  # one folder per run id, holding the files named below
WANDB_DIR = f"{RESULTS}/wandb"  # WANDB_DIR: wandb writes its wandb/ folder here

# Aggregate stage
BEST_DIR = f"{RESULTS}/best"
BEST_MODEL = f"{BEST_DIR}/model.onnx"
BEST_RUN = f"{BEST_DIR}/best_run.json"
PARETO_FRONT = f"{BEST_DIR}/pareto_front.json"  # a multi-objective sweep's front
MODEL_CARD = f"{BEST_DIR}/README.md"
LEADERBOARD = f"{RESULTS}/leaderboard.csv"
PLOTS_DIR = f"{RESULTS}/plots"
PARALLEL_COORDINATES = f"{PLOTS_DIR}/parallel_coordinates.png"  # the sweep views, W&B-style
IMPORTANCE_PLOT = f"{PLOTS_DIR}/importance.png"
PROGRESS_PLOT = f"{PLOTS_DIR}/progress.png"
PARETO_PLOT = f"{PLOTS_DIR}/pareto_front.png"
IMPORTANCE = f"{RESULTS}/importance.csv"  # parameter importance and correlation, as a table


# In a run's folder (`run_dir`)
RUN_CONFIG = "config.yaml"  # the ConvNet's resolved config, seed, device and threads
RUN_METRICS = "metrics.json"  # written last: its presence means the run is over
ONNX_FILE = "model.onnx"  # the ConvNet's model; the user's code's, under RUN_FILES
CHECKPOINT_FILE = "checkpoint.pt"  # the ConvNet's state after its last epoch, while it runs
RUN_FILES = "files"  # the user's code's working folder: what it writes lands here
PARAM_FILE = "sweep-params.yaml"  # the run's parameters as W&B's agent writes them
STDOUT_FILE = "stdout.log"
STDERR_FILE = "stderr.log"


def run_dir(run_id: str) -> str:
    return f"{RUNS_DIR}/{run_id}"


def store_path(sweep_id: str) -> str:
    return f"{SWEEP_STORES}/{sweep_id}.log"


def agent_output(agent: int | str) -> str:
    return AGENT.format(agent=agent)


def under_results(results: str | Path, workflow_path: str) -> Path:
    """`workflow_path` (named relative to the working directory, as here) inside the results
    folder `results`, so that a results folder copied or mounted elsewhere is read in place."""
    relative = Path(workflow_path)
    if relative.is_relative_to(RESULTS):
        return Path(results) / relative.relative_to(RESULTS)
    return relative
