"""`snakemake --profile slurm` against a real single-node SLURM cluster (see cluster.sh).

Runs where the cluster can be installed and started (root, apt-get); skipped with the reason
elsewhere, or when SNAKESWEEP_SKIP_SLURM is set. The only overrides of the shipped profile are what this small test cluster needs:
its partition name, no account, a short first status check.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from workflow_helpers import copy_workflow, tiny_config

pytestmark = pytest.mark.slow

CLUSTER = Path(__file__).with_name("cluster.sh")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    if os.environ.get("SNAKESWEEP_SKIP_SLURM"):
        pytest.skip("SNAKESWEEP_SKIP_SLURM is set")
    if os.geteuid() != 0:
        pytest.skip("starting SLURM daemons needs root")
    if not shutil.which("sbatch") and not shutil.which("apt-get"):
        pytest.skip("SLURM is not installed and apt-get is not available to install it")
    started = time.monotonic()
    subprocess.run(["timeout", "-k", "10", "600", str(CLUSTER), "install"], check=True)
    installed = time.monotonic()
    # Not under pytest's tmp dirs: those are root-only, and mariadb runs as the mysql user.
    state = Path(tempfile.mkdtemp(prefix="snakesweep-slurm-"))
    state.chmod(0o755)
    result = subprocess.run(
        ["timeout", "-k", "10", "180", str(CLUSTER), "start", str(state)], capture_output=True, text=True
    )
    env = {key: value for key, value in os.environ.items() if key != "SLURM_CONF"}
    try:
        if result.returncode != 0:
            logs = "\n".join(f"== {p.name}\n{p.read_text()[-2000:]}" for p in sorted((state / "log").glob("*")))
            pytest.fail(f"the test SLURM cluster did not start:\n{result.stderr}\n{logs}")
        yield env, f"SLURM set-up: packages {installed - started:.1f} s, daemons {time.monotonic() - installed:.1f} s"
    finally:
        subprocess.run([str(CLUSTER), "stop", str(state)], check=False)
        shutil.rmtree(state, ignore_errors=True)


def test_sweep_runs_through_snakemake_profile_slurm(slurm, tmp_path, measurement):
    slurm, setup_time = slurm
    measurement(setup_time)
    work = copy_workflow(tmp_path / "w")
    config = tiny_config(work, agents={"count": 2, "device": "auto"}, sweep={"heartbeat_timeout": 60})
    started = time.monotonic()
    result = subprocess.run(
        [
            "timeout", "-k", "30", "900",
            sys.executable, "-m", "snakemake", "--profile", "slurm",
            # what this test cluster needs, nothing else:
            "--default-resources", "slurm_partition=debug", "runtime=30", "mem_mb=2000",
            "--slurm-no-account", "--slurm-init-seconds-before-status-checks", "2",
            "--configfile", str(config),
        ],
        cwd=work, env=slurm, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    measurement(f"SLURM end-to-end run (snakemake --profile slurm, 4 runs, 2 agents): {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, result.stdout[-6000:]

    summaries = [json.loads((work / f"results/sweep/agents/{i}.json").read_text()) for i in (0, 1)]
    job_ids = [s["slurm_job_id"] for s in summaries]
    assert all(job_ids) and len(set(job_ids)) == 2, summaries
    # each agent job got its own (fake) GPU from SLURM, and trained on the CPU because torch
    # cannot use a fake GPU; the log says so
    assert sorted(s["cuda_visible_devices"] for s in summaries) == ["0", "1"], summaries
    assert {s["device"] for s in summaries} == {"cpu"}
    for i, summary in enumerate(summaries):
        log = (work / f"results/logs/agent-{i}.log").read_text()
        assert f"CUDA_VISIBLE_DEVICES={summary['cuda_visible_devices']} was assigned but torch sees no usable CUDA device" in log

    # the agent jobs really were submitted with --gpus=1 (SLURM's own accounting says so)
    sacct = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-j", ",".join(job_ids), "-o", "JobID,ReqTRES,State"],
        env=slurm, capture_output=True, text=True, check=True,
    ).stdout
    rows = [line.split("|") for line in sacct.splitlines() if line]
    assert len(rows) == 2 and all("gres/gpu=1" in tres and state == "COMPLETED" for _, tres, state in rows), sacct

    best = json.loads((work / "results/best/best_run.json").read_text())
    model = (work / "results/best/model.onnx").read_bytes()
    assert hashlib.sha256(model).hexdigest() == best["onnx_sha256"]
    runs = sum(len(s["runs"]) for s in summaries)
    assert runs == 4
