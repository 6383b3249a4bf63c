"""`snakemake --profile slurm` end to end against a real SLURM cluster.

Which cluster (the `slurm` fixture):
- one that already answers `sinfo` (a cluster's login node, say): the test submits its jobs
  there, to a partition that `sinfo` reports with GPUs (or $SNAKESWEEP_SLURM_PARTITION), and
  installs, starts, stops and changes nothing else; it works in this checkout, which the compute
  nodes must see anyway since its jobs run this checkout's .venv;
- a SLURM config that cluster.sh did not write (`cluster.sh foreign` lists it), but no cluster
  answers: skipped, naming the files, which are left untouched;
- no SLURM config at all: cluster.sh installs Debian's packages and starts a throw-away
  single-node cluster with 2 fake GPUs (needs root and apt-get, else skipped), and afterwards
  stops exactly its daemons and removes only the files it wrote.

Skipped when SNAKESWEEP_SKIP_SLURM is set. The only overrides of the shipped profile are what a
test needs: the partition, no account (sbatch then uses the user's default one, if any), a
short first status check.
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
from typing import NamedTuple

import pytest
import yaml
from workflow_helpers import copy_workflow, run_pipeline, tiny_config

from snakesweep import paths
from snakesweep.record.events import Kind, kind_of
from snakesweep.record.state import fold
from snakesweep.record.store import EventLog

pytestmark = pytest.mark.slow

CLUSTER = Path(__file__).with_name("cluster.sh")


class Cluster(NamedTuple):
    env: dict  # for SLURM's commands: without SLURM_CONF, as the plugin's job steps see it
    partition: str
    own: bool  # started by this fixture (one node, 2 fake GPUs), not the machine's own SLURM
    setup: str  # what setting it up took, for the measurements


def ask(*command: str, env: dict) -> tuple[bool, str]:
    """(True, stdout) if the command succeeds, else (False, why not)."""
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        return False, f"{command[0]} is not installed"
    except subprocess.TimeoutExpired:
        return False, f"{command[0]} did not answer within 60 s"
    if result.returncode != 0:
        return False, (result.stderr or result.stdout).strip() or f"exit status {result.returncode}"
    return True, result.stdout


def gpu_partition(sinfo: str) -> str | None:
    """From `sinfo -h -o %P|%a|%G`: the default partition if it is up and has GPUs, else the
    first such one."""
    rows = (line.split("|") for line in sinfo.splitlines())
    names = [name for name, avail, gres in rows if avail == "up" and "gpu" in gres]
    names.sort(key=lambda name: not name.endswith("*"))  # sinfo marks the default one with *
    return names[0].rstrip("*") if names else None


def existing_cluster(env: dict, sinfo: str) -> Cluster:
    partition = os.environ.get("SNAKESWEEP_SLURM_PARTITION") or gpu_partition(sinfo)
    if not partition:
        pytest.skip(
            "the SLURM cluster here reports no partition that is up and has GPUs "
            f"(sinfo: {sinfo.strip()!r}); set SNAKESWEEP_SLURM_PARTITION to one"
        )
    works, why = ask("sacct", "-n", "-X", "-S", "now", env=env)
    if not works:
        pytest.skip(
            "the SLURM cluster here has no job accounting, which the profile's status checks use "
            f"(sacct: {why})"
        )
    return Cluster(
        env, partition, own=False, setup=f"SLURM: the cluster already here, partition {partition}"
    )


@pytest.fixture(scope="module")
def slurm():
    if os.environ.get("SNAKESWEEP_SKIP_SLURM"):
        pytest.skip("SNAKESWEEP_SKIP_SLURM is set")
    env = {key: value for key, value in os.environ.items() if key != "SLURM_CONF"}
    answers, sinfo = ask("sinfo", "-h", "-o", "%P|%a|%G", env=env)
    if answers:
        yield existing_cluster(env, sinfo)  # used as it is: never started or stopped here
        return
    foreign = subprocess.run(
        [str(CLUSTER), "foreign"], capture_output=True, text=True, check=True
    ).stdout.split()
    if foreign:
        pytest.skip(
            f"SLURM is configured here ({', '.join(foreign)}, not written by this test) "
            "but no cluster "
            f"answers (sinfo: {sinfo}); not starting a test cluster over that configuration"
        )
    if os.geteuid() != 0:
        pytest.skip("no SLURM cluster here, and starting a test cluster needs root")
    if not shutil.which("sbatch") and not shutil.which("apt-get"):
        pytest.skip("SLURM is not installed and apt-get is not available to install it")
    started = time.monotonic()
    subprocess.run(["timeout", "-k", "10", "600", str(CLUSTER), "install"], check=True)
    installed = time.monotonic()
    # Not under pytest's tmp dirs: those are root-only, and mariadb runs as the mysql user.
    state = Path(tempfile.mkdtemp(prefix="snakesweep-slurm-"))
    state.chmod(0o755)
    result = subprocess.run(
        ["timeout", "-k", "10", "180", str(CLUSTER), "start", str(state)],
        capture_output=True,
        text=True,
    )
    try:
        if result.returncode != 0:
            logs = "\n".join(
                f"== {p.name}\n{p.read_text()[-2000:]}" for p in sorted((state / "log").glob("*"))
            )
            pytest.fail(f"the test SLURM cluster did not start:\n{result.stderr}\n{logs}")
        setup = (
            f"SLURM set-up: packages {installed - started:.1f} s, "
            f"daemons {time.monotonic() - installed:.1f} s"
        )
        yield Cluster(env, "debug", own=True, setup=setup)
    finally:
        subprocess.run([str(CLUSTER), "stop", str(state)], check=False)
        shutil.rmtree(state, ignore_errors=True)


def _project(folder: Path, store: str) -> Path:
    """A user's own project folder as `snakesweep init` makes it in an empty folder (the digits
    example's program and sweep file, which need no data stage), the sweep cut to 4 runs and
    the agents to this test's size, its events kept in `store`."""
    subprocess.run(
        [sys.executable, "-m", "snakesweep.cli", "init", str(folder)],
        check=True,
        capture_output=True,
    )
    sweep = yaml.safe_load((folder / "sweep.yaml").read_text())
    assert sweep["program"] == "train.py"
    sweep.update(run_cap=4)
    (folder / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    config = folder / "test-config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "sweep": {"heartbeat_timeout": 60, "store": store},
                "agents": {"count": 2, "device": "auto", "threads": 1},
            }
        )
    )
    return config


def _slurm_snakemake(slurm, work, config, *args, timeout=900):
    """`snakemake --profile slurm` with what a test needs, nothing else: the partition, small
    resources, no account, a short first status check."""
    return subprocess.run(
        ["timeout", "-k", "30", str(timeout), sys.executable, "-m", "snakemake"]
        + ["--profile", "slurm", "--default-resources", f"slurm_partition={slurm.partition}"]
        + ["runtime=30", "mem_mb=2000", "--slurm-no-account"]
        + ["--slurm-init-seconds-before-status-checks", "2", *args, "--configfile", str(config)],
        cwd=work,
        env=slurm.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize("where", ["checkout", "project"])
def test_sweep_runs_through_snakemake_profile_slurm(slurm, tmp_path, request, measurement, where):
    """In a copy of the checkout (the ConvNet, the file store), and in a project folder made by
    `snakesweep init` (the user's own program, snakesweep's workflow used as a Snakemake module,
    and the sweep's state on the PostgreSQL store)."""
    measurement(slurm.setup)
    if slurm.own:
        root = tmp_path
    else:  # in this checkout (in .pytest_cache/), which the compute nodes must see
        root = Path(tempfile.mkdtemp(prefix="run-", dir=request.config.cache.mkdir("slurm-e2e")))
        request.addfinalizer(lambda: shutil.rmtree(root, ignore_errors=True))
    if where == "checkout":
        work = copy_workflow(root / "w")
        config = tiny_config(
            work, agents={"count": 2, "device": "auto"}, sweep={"heartbeat_timeout": 60}
        )
        env = slurm.env
    else:  # the sweep's state on a PostgreSQL server, as on a cluster whose filesystem is GPFS
        work = root / "project"
        server = request.getfixturevalue("postgres")
        config = _project(work, store=server.url)
        env = {**slurm.env, **server.env}  # sbatch passes the environment on to the jobs
    started = time.monotonic()
    result = _slurm_snakemake(slurm._replace(env=env), work, config)
    measurement(
        f"SLURM end-to-end run in a {where} (snakemake --profile slurm, 4 runs, 2 agents): "
        f"{time.monotonic() - started:.1f} s"
    )
    assert result.returncode == 0, result.stdout[-6000:]

    summaries = [json.loads((work / f"results/sweep/agents/{i}.json").read_text()) for i in (0, 1)]
    job_ids = [s["slurm_job_id"] for s in summaries]
    assert all(job_ids) and len(set(job_ids)) == 2, summaries
    # each agent job got a GPU from SLURM and trained on it, or on the CPU where torch cannot
    # use it (and then the log says so)
    for i, summary in enumerate(summaries):
        assert summary["cuda_visible_devices"], summaries
        if summary["device"] == "cpu":
            log = (work / f"results/logs/agent-{i}.log").read_text()
            assert (
                f"CUDA_VISIBLE_DEVICES={summary['cuda_visible_devices']} was assigned "
                "but torch sees no usable CUDA device" in log
            )
        else:
            assert summary["device"] == "cuda:0", summaries
    if slurm.own:  # one node's two fake GPUs, one per agent job; torch cannot use them
        assert sorted(s["cuda_visible_devices"] for s in summaries) == ["0", "1"], summaries
        assert {s["device"] for s in summaries} == {"cpu"}

    # the agent jobs really were submitted with --gpus=1 (SLURM's own accounting says so)
    sacct = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-j", ",".join(job_ids), "-o", "JobID,ReqTRES,State"],
        env=slurm.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split("|") for line in sacct.splitlines() if line]
    assert len(rows) == 2 and all(
        "gres/gpu=1" in tres and state == "COMPLETED" for _, tres, state in rows
    ), sacct

    best = json.loads((work / "results/best/best_run.json").read_text())
    if where == "checkout":
        model = (work / "results/best/model.onnx").read_bytes()
        assert hashlib.sha256(model).hexdigest() == best["onnx_sha256"]
    else:
        assert best["run_id"] and best["metric"]["name"] == "val_loss"
        # the program reads its own data: no MNIST was fetched, downloaded or split
        assert not (work / "resources").exists() and not (work / "results/data").exists()
    runs = sum(len(s["runs"]) for s in summaries)
    assert runs == 4
    if where == "project":  # the jobs kept the sweep on the server, and nothing in a file
        assert json.loads((work / "results/sweep/sweep.json").read_text())["store"].startswith(
            "postgresql://"
        )
        assert not (work / "results/sweep/stores").exists()


# A W&B user's program with slow epochs that checkpoints in its run's folder after each one
# and, resumed, logs its earlier rows again and goes on. EPOCH_SECONDS sets how slow.
SLOW_PROGRAM = """
import json, os, time, wandb
pause = float(os.environ.get("EPOCH_SECONDS", "0"))
saved = os.path.join(os.environ["SNAKESWEEP_RUN_DIR"], "checkpoint.json")
with wandb.init() as run:
    rows = json.load(open(saved)) if os.path.exists(saved) else []
    for row in rows:
        run.log(row)
    for epoch in range(len(rows) + 1, 11):
        time.sleep(pause)
        rows.append({"epoch": epoch, "val_loss": wandb.config.lr + 1.0 / epoch})
        run.log(rows[-1])
        json.dump(rows, open(saved + ".tmp", "w"))
        os.replace(saved + ".tmp", saved)
"""
SLOW_SWEEP = {
    "program": "train.py",
    "method": "grid",
    "metric": {"name": "val_loss", "goal": "minimize"},
    "parameters": {"lr": {"values": [0.4, 0.3, 0.2, 0.1]}},
}


def _slow_project(folder: Path) -> Path:
    work = copy_workflow(folder)
    (work / "usercode").mkdir()
    (work / "usercode/train.py").write_text(SLOW_PROGRAM)
    (work / "usercode/sweep.yaml").write_text(yaml.safe_dump(SLOW_SWEEP))
    config = tiny_config(work, agents={"count": 2, "device": "auto"})
    overrides = yaml.safe_load(config.read_text())
    overrides["sweep"].update(file="usercode/sweep.yaml", heartbeat_timeout=60)
    config.write_text(yaml.safe_dump(overrides))
    return config


def test_agent_jobs_cut_by_their_time_limit_lose_nothing(slurm, tmp_path, measurement):
    """Agent jobs with a 1-minute `--time` and 80 s of runs each: SLURM ends them at the limit
    mid-run (SIGTERM, then SIGKILL after KillWait), the agent records its run interrupted, and
    Snakemake's `retries:` (or, if a retried job is cut too, the next snakemake command) resumes
    it from its checkpoint. Every config is done once and the leaderboard is an undisturbed
    run's, byte for byte."""
    if not slurm.own:
        pytest.skip("cuts jobs at a 1-minute time limit: only on the throw-away test cluster")
    reference = tmp_path / "undisturbed"
    run_pipeline(reference, _slow_project(reference))
    work = tmp_path / "cut"
    config = _slow_project(work)
    slow = {**slurm.env, "EPOCH_SECONDS": "4"}
    agent = "agent:gpu=1 agent:cpus_per_gpu=2 agent:mem_mb=2000 agent:runtime=1".split()
    started, since, commands = time.monotonic(), time.strftime("%Y-%m-%dT%H:%M:%S"), 0
    while commands < 3:
        commands += 1
        result = _slurm_snakemake(slurm._replace(env=slow), work, config, "--set-resources", *agent)
        if result.returncode == 0:
            break
    measurement(
        f"SLURM time limit: 2 agent jobs of 1 minute cut mid-run, {commands} snakemake "
        f"command(s) to the end: {time.monotonic() - started:.1f} s"
    )
    assert result.returncode == 0, result.stdout[-6000:]
    sacct = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-S", since, "-o", "JobID,State,Elapsed"],
        env=slurm.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "|TIMEOUT|" in sacct, sacct  # SLURM did cut agent jobs at their time limit
    events = EventLog(next((work / paths.SWEEP_STORES).glob("*.log"))).read()
    interrupted = [e for e in events if kind_of(e) == Kind.INTERRUPTED]
    assert interrupted and all("SIGTERM" in e["reason"] for e in interrupted), (events, sacct)
    runs = fold(events)
    assert len(runs) == 4 and {r.state for r in runs.values()} == {"finished"}
    finishes = [e["run"] for e in events if kind_of(e) == Kind.FINISH]
    assert sorted(finishes) == sorted(runs)  # every config done once
    board = (work / paths.LEADERBOARD).read_bytes()
    assert board == (reference / paths.LEADERBOARD).read_bytes()
