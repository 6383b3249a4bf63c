"""The shipped SLURM profile: what sbatch the official plugin builds for an agent job, and a
dry run that needs no SLURM at all.

Like the plugin's own tests, the job is a stand-in, but it carries the resources and threads
that Snakemake itself gave the agent job in a dry run under this profile (profile defaults,
per-rule settings and the rule's own `resources:`, merged by Snakemake); the submit string
comes from the plugin's real code.
"""

import os

import pytest
import yaml
from snakemake_executor_plugin_slurm.submit_string import get_submit_command
from snakemake_executor_plugin_slurm.utils import set_gres_string
from workflow_helpers import REPO, copy_workflow, snakemake

pytestmark = pytest.mark.slow  # starts snakemake or many processes: not in `make test-fast`

PROFILE = yaml.safe_load((REPO / "slurm/profile.yaml").read_text())


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    """`snakemake --profile slurm -n` in a fresh copy, with no SLURM configured: its output."""
    work = copy_workflow(tmp_path_factory.mktemp("slurm") / "w")
    env = {k: v for k, v in os.environ.items() if k != "SLURM_CONF"}
    result = snakemake(work, "--profile", "slurm", "-n", env=env)
    assert result.returncode == 0, result.stdout
    return result.stdout


def _first_job(dry_run_output: str, rule: str) -> dict[str, str]:
    """The `key: value` lines Snakemake printed for the first job of `rule`."""
    lines = dry_run_output.split(f"rule {rule}:\n", 1)[1].splitlines()
    fields = {}
    for line in lines:
        if not line.startswith("    "):
            break
        key, _, value = line.strip().partition(": ")
        fields[key] = value
    return fields


class Resources(dict):
    """Snakemake's job.resources: a mapping with attribute access."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class AgentJob:
    name = "agent"
    wildcards = {"agent": "0"}

    def __init__(self, fields: dict[str, str]):
        pairs = (item.split("=", 1) for item in fields["resources"].split(", "))
        self.resources = Resources({k: int(v) if v.isdigit() else v for k, v in pairs})
        self.threads = int(fields.get("threads", 1))  # a dry run omits `threads: 1`

    def is_group(self):
        return False


def _sbatch(job):
    params = {
        "run_uuid": "run-uuid",
        "slurm_logfile": ".snakemake/slurm_logs/rule_agent/0/%j.log",
        "comment_str": "rule_agent_wildcards_0",
        "account": "",
        "partition": f"-p {job.resources.slurm_partition}",
        "workdir": ".",
    }
    return (get_submit_command(job, params) + set_gres_string(job)).split()


def test_agent_jobs_ask_for_one_gpu_and_the_profiles_resources(dry_run):
    args = _sbatch(AgentJob(_first_job(dry_run, "agent")))
    assert args[0] == "sbatch" and "--gpus=1" in args
    assert "--ntasks-per-gpu=1" in args
    assert f"--cpus-per-gpu={PROFILE['set-resources']['agent']['cpus_per_gpu']}" in args
    assert args[args.index("-t") + 1] == str(PROFILE["set-resources"]["agent"]["runtime"])
    assert args[args.index("--mem") + 1] == str(PROFILE["set-resources"]["agent"]["mem_mb"])
    assert args[args.index("-p") + 1] == PROFILE["default-resources"]["slurm_partition"]


def test_cpus_per_gpu_covers_the_agents_threads(dry_run):
    job = AgentJob(_first_job(dry_run, "agent"))
    assert job.resources.cpus_per_gpu >= job.threads


def test_the_profile_uses_the_official_executor_and_keeps_cheap_steps_local():
    assert PROFILE["executor"] == "slurm"
    workflow = "".join(
        p.read_text()
        for p in [REPO / "Snakefile", *sorted((REPO / "workflow/rules").glob("*.smk"))]
    )
    blocks = {block.split(":")[0]: block for block in workflow.split("\nrule ")[1:]}
    for rule in ("all", "download_mnist", "subsample", "register_sweep", "aggregate"):
        assert "\n    localrule: True\n" in blocks[rule], rule  # per rule: it holds in a module too
    assert "localrule:" not in blocks["agent"]


def test_dry_run_with_the_profile_needs_no_slurm(dry_run):
    stats = dry_run.split("Job stats:")[1]
    for rule, count in (("register_sweep", 1), ("agent", 2), ("aggregate", 1)):
        assert any(line.split() == [rule, str(count)] for line in stats.splitlines()), stats


def test_no_default_profile_that_plain_snakemake_would_load():
    assert not (REPO / "profiles/default").exists()
