"""What one `agent` job of the workflow does: take a device, then run sweep runs on it.

With the local controller the agent loop asks our store for configs; with the W&B controller
`wandb.agent` pulls them from the W&B server. Either way each run is `execute_run` into
`results/runs/<run id>/`, and its outcome is recorded in the local store for the aggregate.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
from pathlib import Path

from snakesweep import objective, paths, stopping
from snakesweep.agent.devices import acquire_device
from snakesweep.agent.loop import heartbeat_interval, run_agent
from snakesweep.atomic import write_json
from snakesweep.data.dataset import DataFiles
from snakesweep.record.sweep_record import SweepRecord
from snakesweep.settings import AgentSettings
from snakesweep.sweep.controller import LocalController
from snakesweep.sweep.decide import Limits

log = logging.getLogger(__name__)

WAIT_SECONDS = 2.0  # the longest an agent told to wait sleeps before asking again


def run_agent_job(
    settings: AgentSettings,
    sweep_path: str | Path,
    data: DataFiles | None,
    agent: str,
    out_path: str | Path,
) -> dict:
    """Take a device, then run the sweep's runs on it until the sweep (or `settings.runs`) is
    done; write what this agent did to `out_path`. `data` is the data stage's output, or None
    where the objective has none."""
    sweep = SweepRecord.load(sweep_path)
    if data is not None:
        data.load()  # a corrupted dataset stops the agent here, not each run it would claim
    limits = Limits(sweep.parallelism, settings.heartbeat_timeout, settings.max_attempts)
    slots = paths.GPU_SLOTS
    device, per_gpu, config_file = settings.device, settings.per_gpu, settings.config_file
    with acquire_device(device, slots, per_gpu, config_file=config_file) as chosen:
        taken = _now()
        controller = LocalController(sweep.store, sweep.config, sweep.seed, limits)
        # W&B's own agent handles its signals; under the local controller the agent does
        handling = stopping.handled() if sweep.controller != "wandb" else contextlib.nullcontext()
        with handling, objective.runs(sweep, settings, data, chosen.name) as train_one:
            summary = _run(sweep, settings, controller, agent, train_one)
    summary.update(
        sweep_id=sweep.sweep_id,
        device=chosen.name,
        gpu_slot=chosen.slot_record(),
        device_held=[taken, _now()],  # when this agent took its device and let it go
        cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
        slurm_job_id=os.environ.get("SLURM_JOB_ID"),
        threads=settings.threads,
    )
    write_json(out_path, summary)
    return summary


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def _run(
    sweep: SweepRecord, settings: AgentSettings, controller: LocalController, agent: str, train_one
) -> dict:
    """The loop that hands out this agent's runs: W&B's server, or the local controller."""
    if sweep.controller == "wandb":
        from snakesweep.agent.wandb_agent import run_wandb_agent

        return run_wandb_agent(sweep, controller, agent, settings.runs, train_one)
    interval = heartbeat_interval(settings.heartbeat_timeout)
    return run_agent(controller, agent, settings.runs, train_one, interval, WAIT_SECONDS)
