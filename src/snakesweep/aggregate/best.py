"""The sweep's best run, its model copied out and checked again.

The ConvNet's test accuracy in best_run.json is re-measured here with onnxruntime on the test
split, from the copied file itself: what a consumer of `results/best/model.onnx` gets is what is
reported. It must equal the PyTorch figure the run recorded; if it does not, the aggregate
fails. A model.onnx that the user's own best run wrote is published once onnxruntime has
loaded the copy and its sha256 is the one the run recorded (what it computes is the user's).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from snakesweep import paths
from snakesweep.atomic import atomic_write, write_json
from snakesweep.convnet.onnx_runtime import onnx_accuracy
from snakesweep.data.arrays import file_sha256
from snakesweep.errors import UserError
from snakesweep.record.sweep_record import SweepRecord


def publish_best(
    best: dict, sweep: SweepRecord, runs_dir: str | Path, dataset: dict, out, extra: dict
) -> dict:
    """Copy the ConvNet's best model to `out.model`, score it again with onnxruntime, and
    write best_run.json (`out.best`), with `extra` fields."""
    ranking, model_out = sweep.ranking, out.model
    source = Path(runs_dir) / best["run_id"] / paths.ONNX_FILE
    if not source.exists():
        raise UserError(f"{source}: the best run's model is missing; rerun its agent")
    with atomic_write(model_out) as handle, open(source, "rb") as src:
        shutil.copyfileobj(src, handle)
    accuracy = onnx_accuracy(model_out, dataset["x_test"], dataset["y_test"])
    torch_accuracy = best["metrics"]["test_accuracy"]
    record = {
        "run_id": best["run_id"],
        "state": best["state"],
        "config": best["run_config"],
        "swept": best["config"],
        "metric": {**dataclasses.asdict(ranking), "value": best["summary"][ranking.name]},
        "seed": sweep.seed,
        "sweep_id": sweep.sweep_id,
        "onnx_sha256": file_sha256(model_out),
        "test_accuracy_onnxruntime": accuracy,
        "test_accuracy_pytorch": torch_accuracy,
        "test_images": int(len(dataset["y_test"])),
        **extra,
    }
    if record["onnx_sha256"] != best["onnx_sha256"]:
        raise UserError(
            f"{source}: sha256 differs from the one its run recorded; the file was changed"
        )
    if accuracy != torch_accuracy:
        raise UserError(
            f"{model_out}: onnxruntime test accuracy {accuracy} differs from PyTorch's "
            f"{torch_accuracy}"
        )
    write_json(out.best, record)
    return record


def publish_user_best(best: dict, sweep: SweepRecord, runs_dir: str | Path, out) -> dict:
    """best_run.json (`out.best`) for the user's own code, and its model.onnx when the run
    wrote one."""
    ranking = sweep.ranking
    run_dir = Path(runs_dir) / best["run_id"]
    record = {
        "run_id": best["run_id"],
        "state": best["state"],
        "config": best["config"],
        "swept": best["config"],
        "metric": {**dataclasses.asdict(ranking), "value": best["summary"][ranking.name]},
        "summary": best["summary"],
        "seed": json.loads((run_dir / paths.RUN_METRICS).read_text())["seed"],
        "sweep_id": sweep.sweep_id,
        "artifacts": best["artifacts"] or {},
        "onnx_sha256": None,
    }
    model = run_dir / paths.RUN_FILES / paths.ONNX_FILE
    if best["onnx_sha256"] and model.exists():
        record["onnx_sha256"] = _publish_loaded_model(
            model, best["onnx_sha256"], Path(paths.BEST_MODEL)
        )
    write_json(out.best, record)
    return record


def _publish_loaded_model(source: Path, recorded: str, target: Path) -> str:
    import onnxruntime

    with atomic_write(target) as handle, open(source, "rb") as src:
        shutil.copyfileobj(src, handle)
    if file_sha256(target) != recorded:
        target.unlink()
        raise UserError(
            f"{source}: sha256 differs from the one its run recorded; the file was changed"
        )
    onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    return recorded


def publish_unranked(sweep: SweepRecord, out, counts: dict) -> dict:
    """Without a metric there is no best run: best_run.json and the model card say so."""
    record = {
        "run_id": None,
        "sweep_id": sweep.sweep_id,
        "metric": None,
        "reason": (
            "the sweep file names no metric, so no run is ranked; "
            "name one to rank runs and publish the best"
        ),
        "runs": counts,
    }
    write_json(out.best, record)
    with atomic_write(out.card, "w") as handle:
        handle.write(f"# Sweep `{sweep.name}`\n\nNo best run: {record['reason']}.\n")
    return record
