"""The shipped SLURM profile: what sbatch the official plugin builds for an agent job, and a
dry run that needs no SLURM at all.

Like the plugin's own tests, the job is a stand-in carrying the resources Snakemake gives the
agent rule under this profile; the submit string comes from the plugin's real code.
"""

import os

import yaml
from snakemake_executor_plugin_slurm.submit_string import get_submit_command
from snakemake_executor_plugin_slurm.utils import set_gres_string

from workflow_helpers import REPO, copy_workflow, snakemake

PROFILE = yaml.safe_load((REPO / "slurm/profile.yaml").read_text())


class Resources(dict):
    """Snakemake's job.resources: a mapping with attribute access."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class AgentJob:
    name = "agent"
    threads = yaml.safe_load((REPO / "configs/config.yaml").read_text())["agents"]["threads"]
    wildcards = {"agent": "0"}

    def __init__(self):
        self.resources = Resources({**PROFILE["default-resources"], **PROFILE["set-resources"]["agent"]})

    def is_group(self):
        return False


def _sbatch():
    job = AgentJob()
    params = {
        "run_uuid": "run-uuid",
        "slurm_logfile": ".snakemake/slurm_logs/rule_agent/0/%j.log",
        "comment_str": "rule_agent_wildcards_0",
        "account": "",
        "partition": f"-p {job.resources.slurm_partition}",
        "workdir": ".",
    }
    return (get_submit_command(job, params) + set_gres_string(job)).split()


def test_agent_jobs_ask_for_one_gpu_and_the_profiles_resources():
    args = _sbatch()
    assert args[0] == "sbatch" and "--gpus=1" in args
    assert "--ntasks-per-gpu=1" in args
    assert f"--cpus-per-gpu={PROFILE['set-resources']['agent']['cpus_per_gpu']}" in args
    assert args[args.index("-t") + 1] == str(PROFILE["set-resources"]["agent"]["runtime"])
    assert args[args.index("--mem") + 1] == str(PROFILE["set-resources"]["agent"]["mem_mb"])
    assert args[args.index("-p") + 1] == PROFILE["default-resources"]["slurm_partition"]


def test_cpus_per_gpu_covers_the_agents_threads():
    assert PROFILE["set-resources"]["agent"]["cpus_per_gpu"] >= AgentJob.threads


def test_the_profile_uses_the_official_executor_and_keeps_cheap_steps_local():
    assert PROFILE["executor"] == "slurm"
    snakefile = (REPO / "Snakefile").read_text()
    localrules = snakefile.split("localrules:")[1].split("\n\n")[0]
    for rule in ("download_mnist", "subsample", "register_sweep", "aggregate"):
        assert rule in localrules


def test_dry_run_with_the_profile_needs_no_slurm(tmp_path):
    work = copy_workflow(tmp_path / "w")
    os.environ.pop("SLURM_CONF", None)
    result = snakemake(work, "--profile", "slurm", "-n")
    assert result.returncode == 0, result.stdout
    stats = result.stdout.split("Job stats:")[1]
    for rule, count in (("register_sweep", 1), ("agent", 2), ("aggregate", 1)):
        assert any(line.split() == [rule, str(count)] for line in stats.splitlines()), stats


def test_no_default_profile_that_plain_snakemake_would_load():
    assert not (REPO / "profiles/default").exists()
