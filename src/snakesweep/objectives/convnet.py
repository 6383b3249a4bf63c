"""The built-in ConvNet as an objective: what a sweep needs to know of it (the metrics it logs,
the metric its runs are ranked by when a sweep file names none; its parameters are the run
schema's, `run_config.known_parameters`), and its runs for the agent (`make_train_one`). Torch
is imported only by `make_train_one`'s runs, so the description costs nothing to read."""

from __future__ import annotations

from pathlib import Path

from snakesweep import paths
from snakesweep.train.run_config import run_seed

EPOCH_METRICS = (
    "train_loss",
    "val_loss",
    "val_accuracy",
)  # logged every epoch: hyperband can use them
FINAL_METRICS = ("test_loss", "test_accuracy")  # logged once, after the last epoch
METRICS = EPOCH_METRICS + FINAL_METRICS
DEFAULT_RANKING = {"name": "val_accuracy", "goal": "maximize"}


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


def make_train_one(
    sweep: dict, data: str, manifest: str, device: str, threads: int, wandb_mode: str
):
    """The agent's `train_one` for the ConvNet: `execute_run` into the run's folder."""
    from snakesweep.train.run import execute_run  # torch

    def train_one(claim, on_epoch) -> dict:
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
