# snakesweep: reproducible hyperparameter sweeps for PyTorch.
# This file is the table of contents; each stage lives in workflow/rules/.


from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

from snakesweep import paths
from snakesweep.config_errors import yaml_error
from snakesweep.summary import failure_summary, success_summary

min_version("8.20")

# Snakemake's own message for a broken config file names neither the file nor the line.
if problem := yaml_error(paths.CONFIG_FILE):
    raise WorkflowError(problem)


configfile: paths.CONFIG_FILE


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/aggregate.smk"


# Everything but the agents stays on the submitting host under a cluster executor: these steps
# are cheap, and the download needs the internet access that compute nodes often lack. Each
# such rule says so itself (`localrule: True`), which holds also where the workflow is used as
# a module, unlike a `localrules:` list.


rule all:
    default_target: True
    input:
        final_outputs(),
    localrule: True


# What the console says at the end: the best run and where everything is, or where the logs are.
onsuccess:
    print(success_summary())


onerror:
    print(failure_summary())
