"""One sweep run end to end: the function every sweep agent calls, once per suggested config.

validate -> train -> export ONNX -> verify it -> log to W&B -> write config.yaml, model.onnx and
metrics.json into `out_dir`. metrics.json is written last, so its presence means the run is
over (finished, stopped or failed) and everything else in the folder belongs to it.

Everything in metrics.json is a function of (seed, config, data, threads, device, library
versions) except two sub-dicts a leaderboard must ignore when comparing runs: "timing"
(every *_seconds and samples_per_second) and "wandb" (the run id wandb draws at random).
"""

from __future__ import annotations

import logging
import time
from contextlib import suppress
from pathlib import Path
from typing import Any, Mapping

import torch
import yaml

from snakesweep.atomic import atomic_write, write_json
from snakesweep.data.dataset import load_dataset
from snakesweep.errors import UserError
from snakesweep.train.onnx_export import OnnxVerificationError, export_onnx, verify_onnx
from snakesweep.train.run_config import resolve_run_config
from snakesweep.train.trainer import OnEpoch, resolve_device, to_tensors, train
from snakesweep.train.wandb_run import MODES, wandb_run

log = logging.getLogger("snakesweep.run")

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
ONNX_FILE = "model.onnx"


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
    threads = threads or torch.get_num_threads()
    dataset = load_dataset(data_path, manifest_path)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in (METRICS_FILE, ONNX_FILE):
        with suppress(FileNotFoundError):
            (out / stale).unlink()
    setup = {"run_config": config, "seed": int(seed), "device": dev.type, "threads": int(threads)}
    with atomic_write(out / CONFIG_FILE, "w") as handle:
        yaml.safe_dump(setup, handle, sort_keys=True)

    timing: dict[str, float] = {}
    started = time.perf_counter()
    wandb_config = {**config, "seed": int(seed), "threads": int(threads), "device": dev.type}
    with wandb_run(wandb_config, wandb_dir or out, project, group, tags, wandb_mode) as wb:
        timing["wandb_init_seconds"] = time.perf_counter() - started

        def epoch_done(epoch: int, row: dict) -> bool:
            wb.log_epoch(row)
            return bool(on_epoch(epoch, row)) if on_epoch is not None else False

        result = train(config, dataset, seed, str(dev), threads, epoch_done, progress=progress)
        timing.update(result.timing)
        state, reason = result.state, result.reason

        onnx_info = None
        if state != "failed":
            try:
                tick = time.perf_counter()
                onnx_info = export_onnx(result.model, out / ONNX_FILE)
                timing["export_seconds"] = time.perf_counter() - tick
                tick = time.perf_counter()
                test = to_tensors({**dataset}, torch.device("cpu"))
                onnx_info.update(verify_onnx(out / ONNX_FILE, result.model, test["x_test"], test["y_test"], threads))
                timing["verify_seconds"] = time.perf_counter() - tick
            except OnnxVerificationError as err:
                state, reason = "failed", f"onnx verification failed: {err}"
                log.error("%s", reason)

        metrics = {
            "state": state,
            "reason": reason,
            "seed": int(seed),
            "device": dev.type,
            "threads": int(threads),
            "config": config,
            "history": result.history,
            "final": result.metrics,
            "onnx": onnx_info,
        }
        summary = {"state": state, **result.metrics}
        if onnx_info:
            summary.update({f"onnx_{key}": value for key, value in onnx_info.items()})
        summary.update({key: timing[key] for key in ("train_seconds", "samples_per_second")})
        wb.set_summary(summary)
        if onnx_info and (out / ONNX_FILE).exists():
            wb.save_file(out / ONNX_FILE, out)
        wb.exit_code = 1 if state == "failed" else 0
        finish_started = time.perf_counter()
        wandb_id, wandb_dir_used = wb.id, wb.dir
    timing["wandb_finish_seconds"] = time.perf_counter() - finish_started
    timing["overhead_seconds"] = sum(
        timing.get(key, 0.0) for key in ("wandb_init_seconds", "export_seconds", "verify_seconds", "wandb_finish_seconds")
    )
    timing["total_seconds"] = time.perf_counter() - started
    metrics["timing"] = timing
    metrics["wandb"] = {"mode": wandb_mode, "run_id": wandb_id, "run_dir": str(wandb_dir_used) if wandb_dir_used else None}
    write_json(out / METRICS_FILE, metrics)
    log.info(
        "run %s%s: test_accuracy %s, %.0f samples/s, overhead %.2f s",
        state,
        f" ({reason})" if reason else "",
        metrics["final"].get("test_accuracy", "n/a"),
        timing["samples_per_second"],
        timing["overhead_seconds"],
    )
    return metrics
