"""The W&B run is checked through wandb's own reader of the offline run, not a mock."""

from pathlib import Path

import pytest
from wandb_helpers import summary as wandb_summary

from snakesweep import paths
from snakesweep.convnet.run import execute_run
from snakesweep.convnet.trainer import Setup
from snakesweep.convnet.wandb_run import Tracking
from snakesweep.data.dataset import DataFiles

OFFLINE = Tracking(mode="offline", project="snakesweep-test")


@pytest.fixture(scope="module")
def finished(tiny_npz, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    metrics = execute_run(
        {"epochs": 2, "batch_size": 128},
        DataFiles(str(tiny_npz)),
        out,
        Setup(seed=0, threads=2),
        Tracking(mode="offline", project="snakesweep-test", group="g1", tags=("t1",)),
    )
    return out, metrics


def test_offline_run_holds_metrics_config_and_model(finished):
    out, metrics = finished
    run_dirs = list((out / "wandb").glob("offline-run-*"))
    assert len(run_dirs) == 1 and str(run_dirs[0]) == metrics["wandb"]["run_dir"]
    record = wandb_summary(run_dirs[0])
    assert record["state"] == "finished" and record["exit_code"] == 0
    assert record["project"] == "snakesweep-test"
    assert record["step"] == 2  # one history row per epoch, step = epoch
    summary = record["summary"]
    assert summary["test_accuracy"] == metrics["final"]["test_accuracy"]
    assert summary["val_accuracy"] == metrics["history"][-1]["val_accuracy"]
    assert summary["onnx_sha256"] == metrics["onnx"]["sha256"]
    assert summary["state"] == "finished"
    assert record["config"]["learning_rate"] == 0.005 and record["config"]["seed"] == 0
    saved = run_dirs[0] / "files" / paths.ONNX_FILE  # wandb's own files/ folder
    assert saved.read_bytes() == (out / paths.ONNX_FILE).read_bytes()


def test_failed_run_exits_non_zero_in_wandb(tiny_npz, tmp_path):
    metrics = execute_run(
        {"epochs": 1, "optimizer": "sgd", "learning_rate": 1e12},
        DataFiles(str(tiny_npz)),
        tmp_path,
        Setup(seed=0, threads=2),
        OFFLINE,
    )
    assert metrics["state"] == "failed"
    record = wandb_summary(Path(metrics["wandb"]["run_dir"]))
    assert record["exit_code"] != 0
    assert record["summary"]["state"] == "failed"
    assert not (Path(metrics["wandb"]["run_dir"]) / "files" / paths.ONNX_FILE).exists()


def test_disabled_mode_writes_no_wandb_folder(tiny_npz, tmp_path):
    disabled = Tracking(mode="disabled", project="snakesweep-test")
    metrics = execute_run(
        {"epochs": 1}, DataFiles(str(tiny_npz)), tmp_path, Setup(seed=0, threads=2), disabled
    )
    assert metrics["state"] == "finished"
    assert not (tmp_path / "wandb").exists() or not list((tmp_path / "wandb").glob("*run-*"))
    assert (tmp_path / paths.ONNX_FILE).exists()
