import json

import pytest
import yaml

from snakesweep import paths
from snakesweep.convnet.onnx_runtime import onnx_accuracy
from snakesweep.convnet.run import execute_run
from snakesweep.convnet.trainer import Setup
from snakesweep.convnet.wandb_run import Tracking
from snakesweep.data.dataset import DataFiles, load_dataset
from snakesweep.errors import UserError

CONFIG = {"epochs": 1, "batch_size": 128}
VOLATILE = ("timing", "wandb")
NO_WANDB = Tracking(mode="disabled", project="snakesweep")


def run(config, data, out_dir, seed, threads=None, tracking=NO_WANDB, on_epoch=None):
    """`execute_run` on the CPU, on the dataset file `data` (no manifest)."""
    setup = Setup(seed=seed, threads=threads)
    return execute_run(config, DataFiles(str(data)), out_dir, setup, tracking, on_epoch)


def stable(metrics):
    return {k: v for k, v in metrics.items() if k not in VOLATILE}


def test_two_runs_same_seed_are_identical(tiny_npz, tmp_path):
    a = run(CONFIG, tiny_npz, tmp_path / "a", seed=5, threads=2)
    b = run(CONFIG, tiny_npz, tmp_path / "b", seed=5, threads=2)
    assert stable(a) == stable(b)
    for name in (paths.ONNX_FILE, paths.RUN_CONFIG):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    written = json.loads((tmp_path / "a" / paths.RUN_METRICS).read_text())
    assert stable(written) == stable(a)
    assert set(written["timing"]) >= {
        "train_seconds",
        "samples_per_second",
        "export_seconds",
        "overhead_seconds",
    }
    c = run(CONFIG, tiny_npz, tmp_path / "c", seed=6, threads=2)
    assert c["onnx"]["sha256"] != a["onnx"]["sha256"] and c["history"] != a["history"]


def test_outputs(tiny_npz, tmp_path):
    metrics = run({"epochs": 1}, tiny_npz, tmp_path, seed=0, threads=2)
    setup = yaml.safe_load((tmp_path / paths.RUN_CONFIG).read_text())
    assert (
        setup["seed"] == 0
        and setup["threads"] == 2
        and setup["run_config"]["learning_rate"] == 0.005
    )
    assert metrics["state"] == "finished" and metrics["reason"] is None
    assert metrics["onnx"]["max_abs_diff"] <= 1e-4
    assert metrics["onnx"]["verified_images"] == min(64, len(load_dataset(tiny_npz)["x_test"]))
    assert (
        onnx_accuracy(
            tmp_path / paths.ONNX_FILE, *(load_dataset(tiny_npz)[k] for k in ("x_test", "y_test"))
        )
        == (metrics["final"]["test_accuracy"])
    )
    timing = metrics["timing"]
    assert (
        timing["total_seconds"]
        >= timing["train_seconds"] + timing["eval_seconds"] + timing["overhead_seconds"] - 1e-6
    )


def test_failed_run_still_writes_metrics(tiny_npz, tmp_path):
    (tmp_path / paths.ONNX_FILE).write_bytes(b"stale")
    diverging = {"epochs": 2, "optimizer": "sgd", "learning_rate": 1e12}
    metrics = run(diverging, tiny_npz, tmp_path, seed=0, threads=2)
    written = json.loads((tmp_path / paths.RUN_METRICS).read_text())
    assert written["state"] == metrics["state"] == "failed"
    assert written["reason"].startswith("loss became") and " at epoch 1 step " in written["reason"]
    assert written["onnx"] is None and not (tmp_path / paths.ONNX_FILE).exists()


def test_stopped_run_exports_its_last_epoch(tiny_npz, tmp_path):
    metrics = run(
        {"epochs": 3, "batch_size": 128},
        tiny_npz,
        tmp_path,
        seed=0,
        threads=2,
        on_epoch=lambda epoch, m: True,
    )
    assert metrics["state"] == "stopped" and len(metrics["history"]) == 1
    assert (tmp_path / paths.ONNX_FILE).exists() and metrics["onnx"]["max_abs_diff"] <= 1e-4


def test_bad_input_raises_before_writing(tiny_npz, tmp_path):
    with pytest.raises(UserError, match="unknown key 'lr'"):
        run({"lr": 1}, tiny_npz, tmp_path / "x", seed=0)
    with pytest.raises(UserError, match="wandb mode"):
        run({}, tiny_npz, tmp_path / "x", seed=0, tracking=Tracking("cloud", "snakesweep"))
    with pytest.raises(UserError, match="cannot read the dataset"):
        run({}, tmp_path / "missing.npz", tmp_path / "x", seed=0)
    assert not (tmp_path / "x").exists()
