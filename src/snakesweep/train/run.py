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

import functools
import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import torch
import yaml

from snakesweep.atomic import atomic_write, write_json
from snakesweep.data.dataset import load_dataset
from snakesweep.errors import UserError
from snakesweep.train.onnx_export import (
    VERIFY_IMAGES,
    OnnxVerificationError,
    export_onnx,
    verify_onnx,
)
from snakesweep.train.outputs import CONFIG_FILE, METRICS_FILE, ONNX_FILE
from snakesweep.train.run_config import resolve_run_config
from snakesweep.train.trainer import OnEpoch, TrainResult, resolve_device, train
from snakesweep.train.wandb_run import MODES, WandbRun, wandb_run

log = logging.getLogger("snakesweep.run")

OVERHEAD_KEYS = ("wandb_init_seconds", "export_seconds", "verify_seconds", "wandb_finish_seconds")


def execute_run(
    run_config: Mapping[str, Any] | None,
    data_path: str | Path,
    out_dir: str | Path,
    seed: int,
    device: str = "cpu",
    threads: int | None = None,
    wandb_mode: str = "offline",
    project: str = "snakesweep",
    group: str | None = None,
    manifest_path: str | Path | None = None,
    on_epoch: OnEpoch | None = None,
    tags: tuple[str, ...] | list[str] = (),
    wandb_dir: str | Path | None = None,
    progress: bool = False,
) -> dict:
    """Run one config and return what metrics.json holds.

    Raises UserError for a bad config, data file, device or wandb mode, before any training.
    A diverged run (NaN/inf loss) or an ONNX file that fails verification does not raise: it
    returns (and writes) state "failed" with the reason, and its W&B run exits non-zero.
    `on_epoch(epoch, metrics) -> bool` is called after each epoch; True stops the run
    ("stopped"), which still exports and verifies the model of its last epoch.
    `threads` defaults to torch's current thread count and is recorded, since results depend
    on it. `wandb_dir` (default `out_dir`) receives wandb's `wandb/` folder.
    """
    config = resolve_run_config(run_config)
    if wandb_mode not in MODES:
        raise UserError(f"wandb mode must be one of {', '.join(MODES)}, got {wandb_mode!r}")
    dev = resolve_device(device)
    threads = int(threads or torch.get_num_threads())
    dataset = cached_dataset(data_path, manifest_path)
    setup = {"run_config": config, "seed": int(seed), "device": dev.type, "threads": threads}
    out = start_run_dir(out_dir, setup)

    timing: dict[str, float] = {}
    started = time.perf_counter()
    wandb_config = {**config, "seed": int(seed), "threads": threads, "device": dev.type}
    with wandb_run(wandb_config, wandb_dir or out, project, group, tags, wandb_mode) as wb:
        timing["wandb_init_seconds"] = time.perf_counter() - started
        result = train(
            config,
            dataset,
            seed,
            str(dev),
            threads,
            _epoch_callback(wb, on_epoch),
            progress=progress,
        )
        timing.update(result.timing)
        state, reason, onnx_info = export_and_verify(
            result, out, dataset["x_test"][:VERIFY_IMAGES], threads, timing
        )
        metrics = run_record(result, state, reason, onnx_info, seed, dev.type, threads)
        _summarise(wb, metrics, timing, out)
        metrics_wandb = {
            "mode": wandb_mode,
            "run_id": wb.id,
            "run_dir": str(wb.dir) if wb.dir else None,
        }
        finishing = time.perf_counter()
    timing["wandb_finish_seconds"] = time.perf_counter() - finishing
    timing["overhead_seconds"] = sum(timing.get(key, 0.0) for key in OVERHEAD_KEYS)
    timing["total_seconds"] = time.perf_counter() - started
    metrics["timing"] = timing
    metrics["wandb"] = metrics_wandb
    write_json(out / METRICS_FILE, metrics)
    _log_outcome(metrics)
    return metrics


def cached_dataset(data_path: str | Path, manifest_path: str | Path | None) -> dict:
    """The checked dataset, read once per process while its files are unchanged: an agent runs
    many runs on one dataset, and reading and hashing the full MNIST takes a while."""
    try:
        stats = [
            (str(Path(p).resolve()), os.stat(p).st_mtime_ns, os.stat(p).st_size)
            for p in (data_path, manifest_path)
            if p
        ]
    except OSError:
        return load_dataset(data_path, manifest_path)  # it names the missing file
    return _load_dataset_once(tuple(stats), data_path, manifest_path)


@functools.lru_cache(maxsize=1)
def _load_dataset_once(key: tuple, data_path, manifest_path) -> dict:
    return load_dataset(data_path, manifest_path)


def start_run_dir(out_dir: str | Path, setup: dict) -> Path:
    """The run's folder, without a previous attempt's model or metrics, holding its config.yaml."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in (METRICS_FILE, ONNX_FILE):
        with suppress(FileNotFoundError):
            (out / stale).unlink()
    with atomic_write(out / CONFIG_FILE, "w") as handle:
        yaml.safe_dump(setup, handle, sort_keys=True)
    return out


@contextmanager
def timed(timing: dict, key: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        timing[key] = timing.get(key, 0.0) + time.perf_counter() - started


def export_and_verify(result: TrainResult, out: Path, images, threads: int, timing: dict):
    """(state, reason, onnx info): the run's model written to model.onnx and checked against
    PyTorch on `images`; a file that fails the check turns the run "failed"."""
    if result.state == "failed":
        return result.state, result.reason, None
    try:
        with timed(timing, "export_seconds"):
            onnx_info = export_onnx(result.model, out / ONNX_FILE)
        with timed(timing, "verify_seconds"):
            onnx_info.update(verify_onnx(out / ONNX_FILE, result.model, images, threads))
    except OnnxVerificationError as err:
        reason = f"onnx verification failed: {err}"
        log.error("%s", reason)
        return "failed", reason, None
    return result.state, result.reason, onnx_info


def run_record(
    result: TrainResult, state, reason, onnx_info, seed: int, device: str, threads: int
) -> dict:
    """metrics.json without its timing and W&B parts."""
    return {
        "state": state,
        "reason": reason,
        "seed": int(seed),
        "device": device,
        "threads": threads,
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
    if metrics["onnx"] and (out / ONNX_FILE).exists():
        wb.save_file(out / ONNX_FILE, out)
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
