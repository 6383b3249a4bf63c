import json

import pytest
import yaml

from snakesweep.data.dataset import load_dataset
from snakesweep.errors import UserError
from snakesweep.train.onnx_runtime import onnx_accuracy
from snakesweep.train.run import execute_run

CONFIG = {"epochs": 1, "batch_size": 128}
VOLATILE = ("timing", "wandb")


def stable(metrics):
    return {k: v for k, v in metrics.items() if k not in VOLATILE}


def test_two_runs_same_seed_are_identical(tiny_npz, tmp_path):
    a = execute_run(CONFIG, tiny_npz, tmp_path / "a", seed=5, threads=2, wandb_mode="disabled")
    b = execute_run(CONFIG, tiny_npz, tmp_path / "b", seed=5, threads=2, wandb_mode="disabled")
    assert stable(a) == stable(b)
    assert (tmp_path / "a/model.onnx").read_bytes() == (tmp_path / "b/model.onnx").read_bytes()
    for name in ("config.yaml",):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    written = json.loads((tmp_path / "a/metrics.json").read_text())
    assert stable(written) == stable(a)
    assert set(written["timing"]) >= {
        "train_seconds",
        "samples_per_second",
        "export_seconds",
        "overhead_seconds",
    }
    c = execute_run(CONFIG, tiny_npz, tmp_path / "c", seed=6, threads=2, wandb_mode="disabled")
    assert c["onnx"]["sha256"] != a["onnx"]["sha256"] and c["history"] != a["history"]


def test_outputs(tiny_npz, tmp_path):
    metrics = execute_run(
        {"epochs": 1}, tiny_npz, tmp_path, seed=0, threads=2, wandb_mode="disabled"
    )
    setup = yaml.safe_load((tmp_path / "config.yaml").read_text())
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
            tmp_path / "model.onnx", *(load_dataset(tiny_npz)[k] for k in ("x_test", "y_test"))
        )
        == (metrics["final"]["test_accuracy"])
    )
    timing = metrics["timing"]
    assert (
        timing["total_seconds"]
        >= timing["train_seconds"] + timing["eval_seconds"] + timing["overhead_seconds"] - 1e-6
    )


def test_failed_run_still_writes_metrics(tiny_npz, tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"stale")
    metrics = execute_run(
        {"epochs": 2, "optimizer": "sgd", "learning_rate": 1e12},
        tiny_npz,
        tmp_path,
        seed=0,
        threads=2,
        wandb_mode="disabled",
    )
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["state"] == metrics["state"] == "failed"
    assert written["reason"].startswith("loss became") and " at epoch 1 step " in written["reason"]
    assert written["onnx"] is None and not (tmp_path / "model.onnx").exists()


def test_stopped_run_exports_its_last_epoch(tiny_npz, tmp_path):
    metrics = execute_run(
        {"epochs": 3, "batch_size": 128},
        tiny_npz,
        tmp_path,
        seed=0,
        threads=2,
        wandb_mode="disabled",
        on_epoch=lambda epoch, m: True,
    )
    assert metrics["state"] == "stopped" and len(metrics["history"]) == 1
    assert (tmp_path / "model.onnx").exists() and metrics["onnx"]["max_abs_diff"] <= 1e-4


def test_bad_input_raises_before_writing(tiny_npz, tmp_path):
    with pytest.raises(UserError, match="unknown key 'lr'"):
        execute_run({"lr": 1}, tiny_npz, tmp_path / "x", seed=0, wandb_mode="disabled")
    with pytest.raises(UserError, match="wandb mode"):
        execute_run({}, tiny_npz, tmp_path / "x", seed=0, wandb_mode="cloud")
    with pytest.raises(UserError, match="cannot read the dataset"):
        execute_run({}, tmp_path / "missing.npz", tmp_path / "x", seed=0, wandb_mode="disabled")
    assert not (tmp_path / "x").exists()
