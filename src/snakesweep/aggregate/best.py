"""The sweep's best run, its model copied out and its accuracy measured again.

The test accuracy in best_run.json is re-measured here with onnxruntime on the test split, from
the copied file itself: what a consumer of `results/best/model.onnx` gets is what is reported.
It must equal the PyTorch figure the run recorded; if it does not, the aggregate fails.
"""

from __future__ import annotations

import dataclasses

import shutil
from pathlib import Path

from snakesweep.atomic import atomic_write, write_json
from snakesweep.data.arrays import file_sha256
from snakesweep.errors import UserError
from snakesweep.sweep.metric import Ranking
from snakesweep.train.onnx_runtime import onnx_accuracy
from snakesweep.train.outputs import ONNX_FILE


def publish_best(
    best: dict,
    sweep: dict,
    runs_dir: str | Path,
    dataset: dict,
    model_out: str | Path,
    best_json_out: str | Path,
    ranking: Ranking,
    extra: dict | None = None,
) -> dict:
    source = Path(runs_dir) / best["run_id"] / ONNX_FILE
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
        "seed": sweep["seed"],
        "sweep_id": sweep["sweep_id"],
        "onnx_sha256": file_sha256(model_out),
        "test_accuracy_onnxruntime": accuracy,
        "test_accuracy_pytorch": torch_accuracy,
        "test_images": int(len(dataset["y_test"])),
        **(extra or {}),
    }
    if record["onnx_sha256"] != best["onnx_sha256"]:
        raise UserError(f"{source}: sha256 differs from the one its run recorded; the file was changed")
    if accuracy != torch_accuracy:
        raise UserError(
            f"{model_out}: onnxruntime test accuracy {accuracy} differs from PyTorch's {torch_accuracy}"
        )
    write_json(best_json_out, record)
    return record
