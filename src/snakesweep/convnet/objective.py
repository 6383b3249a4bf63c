"""The built-in ConvNet as an objective: what a sweep needs to know of it (the parameters it
has, the metrics it logs, the metric its runs are ranked by when a sweep file names none), and
its runs for the agent (`make_train_one`). Torch is imported only by `make_train_one`'s runs, so
the description costs nothing to read."""

from __future__ import annotations

from pathlib import Path

from snakesweep import paths
from snakesweep.convnet.run_config import resolve_run_config, run_seed
from snakesweep.data.dataset import DataFiles
from snakesweep.record.sweep_record import SweepRecord
from snakesweep.settings import AgentSettings
from snakesweep.wandb_ids import wandb_run_id

EPOCH_METRICS = ("train_loss", "val_loss", "val_accuracy")  # every epoch: hyperband can use them
FINAL_METRICS = ("test_loss", "test_accuracy")  # logged once, after the last epoch
METRICS = EPOCH_METRICS + FINAL_METRICS
DEFAULT_RANKING = {"name": "val_accuracy", "goal": "maximize"}


def resolved_defaults(train: dict, source: str) -> dict:
    """The config's `train:` section checked and completed with the run schema's defaults: the
    resolved config, not the overrides as written, so `train: {}` and the defaults spelled out
    are the same experiment, and so the same sweep."""
    return resolve_run_config(train, source=f"{source}: train")


def run_summary(metrics: dict) -> dict:
    """The run's summary for the store, as W&B keeps a run's summary: the last logged value of
    every number it logged per epoch, then its final metrics. Runs are ranked by the ranking
    metric's value here, whether or not the sweep file names that metric."""
    last: dict = {}
    for row in [*(metrics.get("history") or []), metrics.get("final") or {}]:
        last.update(row)
    return {
        k: v for k, v in last.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def make_train_one(sweep: SweepRecord, settings: AgentSettings, data: DataFiles, device: str):
    """The agent's `train_one` for the ConvNet: `execute_run` into the run's folder."""
    from snakesweep.convnet.run import execute_run  # torch
    from snakesweep.convnet.trainer import Setup
    from snakesweep.convnet.wandb_run import Tracking

    def train_one(claim, on_epoch) -> dict:
        run_config = {**sweep.train, **claim.config}
        out_dir = Path(paths.run_dir(claim.run_id))
        # An earlier attempt's checkpoint, interrupted or crashed (SIGKILLed in a long epoch,
        # say), holds every state the next epochs depend on: resuming from it ends bit for bit
        # as an undisturbed run. It is gone once a run is over, so a retried run starts afresh.
        saved = out_dir / paths.CHECKPOINT_FILE
        resumes = claim.resume or saved.exists()
        tracking = Tracking(
            mode=settings.wandb_mode,
            project=sweep.project,
            group=sweep.name,
            tags=(sweep.sweep_id, f"run-{claim.run_id}"),
            dir=paths.WANDB_DIR,
            # W&B's server names the runs of its sweeps (WANDB_RUN_ID, set by its agent)
            run_id=None
            if sweep.controller == "wandb"
            else wandb_run_id(sweep.sweep_id, claim.run_id),
            resume="allow" if resumes else None,
        )
        setup = Setup(
            seed=run_seed(sweep.seed, run_config),
            device=device,
            threads=settings.threads,
            checkpoint=str(saved),
        )
        result = execute_run(run_config, data, out_dir, setup, tracking, on_epoch)
        return {
            "state": result["state"],
            "summary": run_summary(result),
            "reason": result["reason"],
            "onnx_sha256": (result.get("onnx") or {}).get("sha256"),
        }

    return train_one
