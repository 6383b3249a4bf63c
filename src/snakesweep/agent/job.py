"""What one `agent` job of the workflow does: take a device, then run sweep runs on it.

With the local controller the agent loop asks our store for configs; with the W&B controller
`wandb.agent` pulls them from the W&B server. Either way each run is `execute_run` into
`results/runs/<run id>/`, and its outcome is recorded in the local store for the aggregate.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from snakesweep import paths
from snakesweep.agent.devices import acquire_device
from snakesweep.agent.loop import heartbeat_interval, run_agent
from snakesweep.atomic import write_json
from snakesweep.data.dataset import load_dataset
from snakesweep.sweep.controller import Claim, LocalController
from snakesweep.train.run import execute_run
from snakesweep.train.run_config import run_seed

log = logging.getLogger(__name__)


def run_summary(metrics: dict) -> dict:
    """The run's summary for the store, as W&B keeps a run's summary: the last logged value of
    every number it logged per epoch, then its final metrics. Runs are ranked by the ranking
    metric's value here, whether or not the sweep file names that metric."""
    last: dict = {}
    for row in [*(metrics.get("history") or []), metrics.get("final") or {}]:
        last.update(row)
    return {k: v for k, v in last.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def make_train_one(sweep: dict, data: str, manifest: str, device: str, threads: int, wandb_mode: str):
    def train_one(claim: Claim, on_epoch) -> dict:
        run_config = {**sweep["train"], **claim.config}
        result = execute_run(
            run_config,
            data_path=data,
            out_dir=Path(paths.RUNS_DIR) / claim.run_id,
            seed=run_seed(sweep["seed"], run_config),
            device=device,
            threads=threads,
            wandb_mode=wandb_mode,
            project=sweep["project"],
            group=sweep["name"],
            manifest_path=manifest,
            on_epoch=on_epoch,
            tags=(sweep["sweep_id"], f"run-{claim.run_id}"),
            wandb_dir=paths.WANDB_DIR,
        )
        return {
            "state": result["state"],
            "summary": run_summary(result),
            "reason": result["reason"],
            "onnx_sha256": (result.get("onnx") or {}).get("sha256"),
        }

    return train_one


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
        train_one = make_train_one(sweep, data, manifest, chosen, threads, wandb_mode)
        if sweep["controller"] == "wandb":
            from snakesweep.agent.wandb_agent import run_wandb_agent

            summary = run_wandb_agent(sweep, controller, agent, max_runs, train_one)
        else:
            summary = run_agent(
                controller,
                agent,
                max_runs,
                train_one,
                heartbeat_interval=heartbeat_interval(heartbeat_timeout),
                wait_seconds=2.0,
            )
    summary.update(
        sweep_id=sweep["sweep_id"],
        device=chosen,
        cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
        slurm_job_id=os.environ.get("SLURM_JOB_ID"),
        threads=threads,
    )
    write_json(out_path, summary)
    return summary
