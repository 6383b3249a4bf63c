"""One sweep run end to end: the function every sweep agent calls, once per suggested config.

validate -> train -> export ONNX -> verify it -> log to W&B -> write config.yaml, model.onnx and
metrics.json into `out_dir`. metrics.json is written last, so its presence means the run is
over (finished, stopped or failed) and everything else in the folder belongs to it.

Everything in metrics.json is a function of (seed, config, data, threads, device, library
versions) except two sub-dicts a leaderboard must ignore when comparing runs: "timing"
(every *_seconds and samples_per_second) and "wandb" (the run id wandb draws at random).
A run's overhead is `total_seconds` minus `train_seconds` and `eval_seconds`.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

import torch
import yaml

from snakesweep import paths
from snakesweep.atomic import atomic_write, write_json
from snakesweep.callbacks import OnEpoch
from snakesweep.convnet.onnx_export import (
    VERIFY_IMAGES,
    OnnxVerificationError,
    export_onnx,
    verify_onnx,
)
from snakesweep.convnet.run_config import resolve_run_config
from snakesweep.convnet.trainer import Setup, TrainResult, resolve_device, timed, train
from snakesweep.convnet.wandb_run import MODES, Tracking, WandbRun, wandb_run
from snakesweep.data.dataset import DataFiles
from snakesweep.errors import UserError

log = logging.getLogger("snakesweep.run")

OVERHEAD_KEYS = ("wandb_init_seconds", "export_seconds", "verify_seconds", "wandb_finish_seconds")


def execute_run(
    run_config: Mapping[str, Any] | None,
    data: DataFiles,
    out_dir: str | Path,
    setup: Setup,
    tracking: Tracking,
    on_epoch: OnEpoch | None = None,
) -> dict:
    """Run one config and return what metrics.json holds.

    Raises UserError for a bad config, data file, device or wandb mode, before any training.
    A diverged run (NaN/inf loss) or an ONNX file that fails verification does not raise: it
    returns (and writes) state "failed" with the reason, and its W&B run exits non-zero.
    `on_epoch(epoch, metrics) -> bool` is called after each epoch; True stops the run
    ("stopped"), which still exports and verifies the model of its last epoch. The thread
    count defaults to torch's current one and is recorded, since results depend on it.
    """
    config = resolve_run_config(run_config)
    if tracking.mode not in MODES:
        raise UserError(f"wandb mode must be one of {', '.join(MODES)}, got {tracking.mode!r}")
    dev = resolve_device(setup.device)
    setup = dataclasses.replace(setup, threads=int(setup.threads or torch.get_num_threads()))
    dataset = cached_dataset(data)
    ran = {"seed": int(setup.seed), "threads": setup.threads, "device": dev.type}
    out = start_run_dir(out_dir, {"run_config": config, **ran})
    timing: dict[str, float] = {}
    started = time.perf_counter()
    with wandb_run({**config, **ran}, tracking, out) as wb:
        timing["wandb_init_seconds"] = time.perf_counter() - started
        result = train(config, dataset, setup, _epoch_callback(wb, on_epoch))
        if setup.checkpoint:  # over: the run's folder holds what it always held
            Path(setup.checkpoint).unlink(missing_ok=True)
        timing.update(result.timing)
        images = dataset["x_test"][:VERIFY_IMAGES]
        exported = export_and_verify(result, out, images, setup.threads, timing)
        metrics = run_record(result, exported, ran)
        _summarise(wb, metrics, timing, out)
        metrics_wandb = {"mode": tracking.mode, "run_id": wb.id, "run_dir": wb.dir and str(wb.dir)}
        finishing = time.perf_counter()
    timing["wandb_finish_seconds"] = time.perf_counter() - finishing
    timing["overhead_seconds"] = sum(timing.get(key, 0.0) for key in OVERHEAD_KEYS)
    timing["total_seconds"] = time.perf_counter() - started
    metrics["timing"] = timing
    metrics["wandb"] = metrics_wandb
    write_json(out / paths.RUN_METRICS, metrics)
    _log_outcome(metrics)
    return metrics


def cached_dataset(data: DataFiles) -> dict:
    """The checked dataset, read once per process while its files are unchanged: an agent runs
    many runs on one dataset, and reading and hashing the full MNIST takes a while."""
    files = [p for p in (data.dataset, data.manifest) if p]
    try:
        stats = [
            (str(Path(p).resolve()), os.stat(p).st_mtime_ns, os.stat(p).st_size) for p in files
        ]
    except OSError:
        return data.load()  # it names the missing file
    return _load_dataset_once(tuple(stats), data)


@functools.lru_cache(maxsize=1)
def _load_dataset_once(key: tuple, data: DataFiles) -> dict:
    return data.load()


def start_run_dir(out_dir: str | Path, setup: dict) -> Path:
    """The run's folder, without a previous attempt's model or metrics, holding its config.yaml."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in (paths.RUN_METRICS, paths.ONNX_FILE):
        with suppress(FileNotFoundError):
            (out / stale).unlink()
    with atomic_write(out / paths.RUN_CONFIG, "w") as handle:
        yaml.safe_dump(setup, handle, sort_keys=True)
    return out


def export_and_verify(result: TrainResult, out: Path, images, threads: int, timing: dict):
    """(state, reason, onnx info): the run's model written to model.onnx and checked against
    PyTorch on `images`; a file that fails the check turns the run "failed"."""
    if result.state == "failed":
        return result.state, result.reason, None
    try:
        with timed(timing, "export_seconds"):
            onnx_info = export_onnx(result.model, out / paths.ONNX_FILE)
        with timed(timing, "verify_seconds"):
            onnx_info.update(verify_onnx(out / paths.ONNX_FILE, result.model, images, threads))
    except OnnxVerificationError as err:
        reason = f"onnx verification failed: {err}"
        log.error("%s", reason)
        return "failed", reason, None
    return result.state, result.reason, onnx_info


def run_record(result: TrainResult, exported: tuple, ran: dict) -> dict:
    """metrics.json without its timing and W&B parts: `exported` is `export_and_verify`'s
    (state, reason, onnx info), `ran` the run's seed, threads and device."""
    state, reason, onnx_info = exported
    return {
        "state": state,
        "reason": reason,
        **ran,
        "config": result.config,
        "history": result.history,
        "final": result.metrics,
        "onnx": onnx_info,
    }


def _epoch_callback(wb: WandbRun, on_epoch: OnEpoch | None) -> OnEpoch:
    def epoch_done(epoch: int, row: dict) -> bool:
        wb.log_epoch(row)
        return bool(on_epoch(epoch, row)) if on_epoch is not None else False

    return epoch_done


def _summarise(wb: WandbRun, metrics: dict, timing: dict, out: Path) -> None:
    summary = {"state": metrics["state"], **metrics["final"]}
    summary.update({f"onnx_{key}": value for key, value in (metrics["onnx"] or {}).items()})
    summary.update({key: timing[key] for key in ("train_seconds", "samples_per_second")})
    wb.set_summary(summary)
    if metrics["onnx"] and (out / paths.ONNX_FILE).exists():
        wb.save_file(out / paths.ONNX_FILE, out)
    wb.exit_code = 1 if metrics["state"] == "failed" else 0


def _log_outcome(metrics: dict) -> None:
    timing = metrics["timing"]
    log.info(
        "run %s%s: test_accuracy %s, %.0f samples/s, overhead %.2f s",
        metrics["state"],
        f" ({metrics['reason']})" if metrics["reason"] else "",
        metrics["final"].get("test_accuracy", "n/a"),
        timing["samples_per_second"],
        timing["total_seconds"] - timing["train_seconds"] - timing["eval_seconds"],
    )
