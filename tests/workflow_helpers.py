"""Run the real workflow in a scratch copy of the repository, as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ("Snakefile", "workflow", "configs", "envs", "slurm")

# What `snakesweep init` starts an empty folder with: an MLP on scikit-learn's digits, which
# needs no data stage and no download.
INIT_EXAMPLE = REPO / "examples/digits-program"

# copy_checkout, what a clone of this working tree holds, is defined once, for the benchmarks
# too; run a copy's own package with `checkout_env(dest)`.
sys.path.insert(0, str(REPO / "benchmarks"))
from workcopy import copy_checkout  # noqa: E402, F401 (re-exported for the tests)


def copy_workflow(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def checkout_env(checkout: Path) -> dict[str, str]:
    """The environment that imports snakesweep from `checkout`'s src/ instead of this one's."""
    return {**os.environ, "PYTHONPATH": str(checkout / "src")}


def write_config(workdir: Path, overrides: dict, name: str = "test-config.yaml") -> Path:
    path = workdir / name
    path.write_text(yaml.safe_dump(overrides))
    return path


def snakemake(
    workdir: Path, *args: str, timeout: float = 600, env: dict | None = None
) -> subprocess.CompletedProcess:
    """`snakemake ARGS` in `workdir` with the interpreter running the tests; `.stdout` holds all
    output."""
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )


TINY_SWEEP = """
method: grid
metric: {name: val_accuracy, goal: maximize}
parameters:
  learning_rate: {values: [0.001, 0.003]}
  batch_size: {values: [64, 128]}
"""


def tiny_config(
    workdir: Path, seed: int = 0, agents: int | dict = 2, sweep: str | dict = TINY_SWEEP, **extra
) -> Path:
    """A config for a sweep that runs in well under a minute: bundled data, 1 epoch per run.

    `agents` is the agent count or a dict of agents.* settings; `sweep` is the sweep file's
    text or a dict of sweep.* settings (the file is then the tiny grid); other keywords are
    merged into their config section."""
    sweep_settings = sweep if isinstance(sweep, dict) else {}
    (workdir / "configs" / "tiny-sweep.yaml").write_text(
        TINY_SWEEP if isinstance(sweep, dict) else sweep
    )
    agent_settings = agents if isinstance(agents, dict) else {"count": agents}
    overrides = {
        "seed": seed,
        "data": {"source": "bundled"},
        "sweep": {"file": "configs/tiny-sweep.yaml", "heartbeat_timeout": 30, **sweep_settings},
        "agents": {"count": 2, "threads": 1, **agent_settings},
        "train": {"epochs": 1},
    }
    for key, value in extra.items():
        overrides[key] = {**overrides.get(key, {}), **value} if isinstance(value, dict) else value
    return write_config(workdir, overrides)


def run_pipeline(
    workdir: Path, config: Path, *args: str, timeout: float = 900, env: dict | None = None
) -> subprocess.CompletedProcess:
    result = snakemake(
        workdir, "--cores", "2", *args, "--configfile", str(config), timeout=timeout, env=env
    )
    assert result.returncode == 0, result.stdout[-5000:]
    return result


def run_pipeline_watched(
    workdir: Path, config: Path, *args: str, every: float = 1.0, timeout: float = 900
):
    """`run_pipeline`, asking `snakesweep status` every `every` seconds while snakemake runs.
    The result's `.status` holds what status printed, in order (tests/test_status.py)."""
    console = workdir.parent / f"{workdir.name}-console.txt"
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--cores",
        "2",
        *args,
        "--configfile",
        str(config),
    ]
    status = [
        sys.executable,
        "-m",
        "snakesweep.cli",
        "status",
        "--results",
        str(workdir / "results"),
    ]
    seen = []
    with open(console, "w") as out:
        process = subprocess.Popen(command, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while process.poll() is None and time.monotonic() < deadline:
                shown = subprocess.run(status, capture_output=True, text=True, timeout=60)
                if shown.returncode == 0:
                    seen.append(shown.stdout)
                time.sleep(every)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
    result = subprocess.CompletedProcess(command, process.returncode, console.read_text())
    assert result.returncode == 0, result.stdout[-5000:]
    result.status = seen
    return result
