# Config validation and the input functions every stage shares. Paths come from the package,
# so the rules and the Python code never spell a path twice.
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from snakesweep import paths
from snakesweep.config_errors import describe_config_error

try:
    validate(config, schema="../schemas/config.schema.yaml")
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
    """The targets of the default run: the end of the pipeline as far as it is built."""
    return [paths.DATASET, paths.MANIFEST]
