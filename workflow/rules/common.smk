# Config validation and the input functions every stage shares. Paths come from the package,
# so the rules and the Python code never spell a path twice.
from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config, validate

from snakesweep import paths
from snakesweep.config_errors import describe_config_error, file_defining
from snakesweep.config_types import typed_command_line
from snakesweep.objective import needs_data, objective_kind
from snakesweep.record.sweep_record import CONVNET
from snakesweep.settings import Config

CONFIG_SCHEMA = str(paths.CONFIG_SCHEMA)

# Snakemake reads values nested in --config as strings: give them the schema's types first.
update_config(
    config, typed_command_line(workflow.config_settings.config, CONFIG_SCHEMA)
)
try:
    validate(config, schema=CONFIG_SCHEMA)
except WorkflowError as err:
    message = describe_config_error(err, workflow.configfiles)
    if message is None:
        raise
    raise WorkflowError(message) from None


CONDA_ENV = "../../envs/snakesweep.yaml"


def log_path(name):
    return f"{paths.LOGS}/{name}.log"


def benchmark_path(name):
    return f"{paths.BENCHMARKS}/{name}.tsv"


# Each stage's settings, typed (snakesweep.settings): a rule's `params: settings=...`.
SETTINGS = Config(config, workflow.configfiles)

# The built-in ConvNet, or the user's program (the sweep file's) or function (sweep.function).
OBJECTIVE = objective_kind(config["sweep"]["file"], config["sweep"]["function"])


def data_inputs():
    """The data stage's outputs, for the jobs that read them: only where the objective needs
    MNIST (the ConvNet, or the user's code with data.prepare: always)."""
    if not needs_data(OBJECTIVE, config["data"]["prepare"]):
        return {}
    return {"dataset": paths.DATASET, "manifest": paths.MANIFEST}


def final_outputs():
    """The targets of the default run: the best model and the sweep's overview, as plain paths
    (without the `report` and `directory` flags their rule gives them)."""
    return [str(path) for path in aggregate_outputs().values()]


def aggregate_outputs():
    """What the aggregate writes. The ConvNet's best run always has a model.onnx; the user's
    code may write none, so its best model (when there is one) is not a declared output.
    """
    model = {
        "model": report(
            paths.BEST_MODEL, caption="../report/best_model.rst", category="Best model"
        )
    }
    return {
        **(model if OBJECTIVE == CONVNET else {}),
        "best": report(
            paths.BEST_RUN, caption="../report/best_run.rst", category="Best model"
        ),
        "card": report(
            paths.MODEL_CARD, caption="../report/model_card.rst", category="Best model"
        ),
        "leaderboard": report(
            paths.LEADERBOARD, caption="../report/leaderboard.rst", category="Sweep"
        ),
        "plots": report(
            directory(paths.PLOTS_DIR),
            patterns=["{name}.png"],
            caption="../report/plots.rst",
            category="Sweep",
        ),
        "importance": report(
            paths.IMPORTANCE, caption="../report/importance.rst", category="Sweep"
        ),
    }


def agent_outputs():
    return [paths.agent_output(i) for i in range(config["agents"]["count"])]


def agent_gpus():
    """One GPU per agent job when agents train on GPUs: SLURM then asks for --gpus=1, and a
    local run given `--resources gpu=N` starts at most N agents at once."""
    return 1 if config["agents"]["device"] == "cuda" else 0
