"""What one `agent` job of the workflow does: take a device, then run sweep runs on it.

With the local controller the agent loop asks our store for configs; with the W&B controller
`wandb.agent` pulls them from the W&B server. Either way each run is `execute_run` into
`results/runs/<run id>/`, and its outcome is recorded in the local store for the aggregate.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path

from snakesweep import paths
from snakesweep.agent.devices import acquire_device
from snakesweep.agent.loop import heartbeat_interval, run_agent
from snakesweep.atomic import write_json
from snakesweep.data.dataset import load_dataset
from snakesweep.objectives import convnet
from snakesweep.objectives.choice import USER_CODE
from snakesweep.sweep.controller import LocalController
from snakesweep.sweep.metric import engine_metric, ranking_of

log = logging.getLogger(__name__)


def run_agent_job(
    sweep_path: str,
    data: str,
    manifest: str,
    agent: str,
    out_path: str,
    max_runs: int,
    device: str,
    threads: int,
    per_gpu: int,
    wandb_mode: str,
    heartbeat_timeout: float,
    max_attempts: int,
    config_file: str = paths.CONFIG_FILE,
) -> dict:
    sweep = json.loads(Path(sweep_path).read_text())
    # A corrupted dataset stops the agent here, instead of failing every run it would claim.
    load_dataset(data, manifest)
    with acquire_device(device, paths.GPU_SLOTS, per_gpu, config_file=config_file) as chosen:
        controller = LocalController(
            sweep["store"],
            sweep["config"],
            sweep["seed"],
            parallelism=sweep["parallelism"],
            heartbeat_timeout=heartbeat_timeout,
            max_attempts=max_attempts,
        )
        with objective_runs(sweep, data, manifest, chosen, threads, wandb_mode) as train_one:
            summary = _run(sweep, controller, agent, max_runs, train_one, heartbeat_timeout)
    summary.update(
        sweep_id=sweep["sweep_id"],
        device=chosen,
        cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
        slurm_job_id=os.environ.get("SLURM_JOB_ID"),
        threads=threads,
    )
    write_json(out_path, summary)
    return summary


@contextlib.contextmanager
def objective_runs(
    sweep: dict, data: str, manifest: str, device: str, threads: int, wandb_mode: str
):
    """The sweep's objective as the agent loop sees it, a `train_one(claim, on_epoch)`: the
    built-in ConvNet, or the user's program or function (a sweep registered before objectives
    were recorded is the ConvNet's)."""
    if sweep.get("objective", {}).get("kind") in USER_CODE:
        from snakesweep.objectives.user_code import Metrics, user_code_runs

        engine, ranking = engine_metric(sweep["config"]), ranking_of(sweep)
        metrics = Metrics(engine, engine or (ranking.name if ranking else None))
        with user_code_runs(sweep, metrics, data, device, threads, wandb_mode) as train_one:
            yield train_one
    else:
        yield convnet.make_train_one(sweep, data, manifest, device, threads, wandb_mode)


def _run(
    sweep: dict,
    controller: LocalController,
    agent: str,
    max_runs: int,
    train_one,
    heartbeat_timeout: float,
):
    """The loop that hands out this agent's runs: W&B's server, or the local controller."""
    if sweep["controller"] == "wandb":
        from snakesweep.agent.wandb_agent import run_wandb_agent

        return run_wandb_agent(sweep, controller, agent, max_runs, train_one)
    return run_agent(
        controller,
        agent,
        max_runs,
        train_one,
        heartbeat_interval=heartbeat_interval(heartbeat_timeout),
        wait_seconds=2.0,
    )
