"""The agent loop when the W&B server is the controller: `wandb.agent` pulls configs.

For each suggestion `wandb.agent` sets `WANDB_RUN_ID`, `WANDB_SWEEP_ID` and
`WANDB_SWEEP_PARAM_PATH` (a YAML file of `{name: {value: v}}`) and calls our function; the run's
own `wandb.init` then joins the sweep. We read the suggested values from that file, book the run
in the local store (for the aggregate), and train exactly as with the local controller.
"""

from __future__ import annotations

import logging
import os

import yaml

from snakesweep.agent.loop import (
    Heartbeat,
    TrainOne,
    heartbeat_interval,
    record_outcome,
    train_safely,
)
from snakesweep.record.sweep_record import SweepRecord
from snakesweep.sweep.controller import LocalController
from snakesweep.sweep.spec import run_config

log = logging.getLogger(__name__)


def suggested_config(parameters: dict) -> tuple[dict, dict]:
    """(engine config, trainer config) of the run `wandb.agent` is starting; `parameters` are
    the sweep file's, which say what is a nested group."""
    import wandb

    path = os.environ.get(wandb.env.SWEEP_PARAM_PATH)
    if not path:
        raise RuntimeError(f"{wandb.env.SWEEP_PARAM_PATH} is not set: not called by wandb.agent")
    with open(path) as handle:
        raw = yaml.safe_load(handle) or {}
    engine_config = {
        k: v
        for k, v in raw.items()
        if isinstance(v, dict) and "value" in v and k != "wandb_version"
    }
    return engine_config, run_config(parameters, engine_config)


def run_wandb_agent(
    sweep: SweepRecord, controller: LocalController, agent: str, max_runs: int, train_one: TrainOne
) -> dict:
    import wandb

    runs = []

    def one_run() -> None:
        engine_config, config = suggested_config(sweep.config["parameters"])
        claim = controller.record_claim(agent, config, engine_config)
        log.info("run %s (W&B run %s): %s", claim.run_id, os.environ.get(wandb.env.RUN_ID), config)
        with (
            Heartbeat(controller, heartbeat_interval(controller.heartbeat_timeout)) as beat,
            beat.run(claim.run_id),
        ):
            # W&B's server decides early termination for its sweeps; the store only records.
            outcome = train_safely(
                controller, claim, lambda c, on_epoch: train_one(c, lambda e, m: False)
            )
        record_outcome(controller, claim, outcome)
        runs.append(
            {
                "run_id": claim.run_id,
                "state": outcome["state"],
                "wandb_run_id": os.environ.get(wandb.env.RUN_ID),
            }
        )

    wandb.agent(
        sweep.sweep_id,
        function=one_run,
        count=max_runs,
        project=sweep.project,
        entity=sweep.entity,
    )
    controller.log.sync()
    # wandb keeps the last run's sweep settings in its process-wide state: drop them.
    wandb.teardown()
    return {"agent": agent, "runs": runs}
