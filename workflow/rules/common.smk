# Config validation and the input functions every stage shares. Paths come from the package,
# so the rules and the Python code never spell a path twice.
from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config, validate

from snakesweep import paths
from snakesweep.config_errors import describe_config_error, file_defining
from snakesweep.config_types import typed_command_line

CONFIG_SCHEMA = f"{workflow.basedir}/{paths.CONFIG_SCHEMA}"

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


def final_outputs():
    """The targets of the default run: the best model and the sweep's overview."""
    return [
        paths.BEST_MODEL,
        paths.BEST_RUN,
        paths.MODEL_CARD,
        paths.LEADERBOARD,
        paths.PLOTS_DIR,
        paths.IMPORTANCE,
    ]


def agent_outputs():
    return [paths.agent_output(i) for i in range(config["agents"]["count"])]


def agent_gpus():
    """One GPU per agent job when agents train on GPUs: SLURM then asks for --gpus=1, and a
    local run given `--resources gpu=N` starts at most N agents at once."""
    return 1 if config["agents"]["device"] == "cuda" else 0


def config_source(*keys):
    """The config file whose value of `keys` is in effect, for error messages."""
    value = config
    for key in keys:
        value = value[key]
    return file_defining(list(keys), value, workflow.configfiles)
