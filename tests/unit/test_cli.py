"""`snakesweep train` as a user runs it: a subprocess on the bundled split."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SNAKESWEEP = Path(sys.executable).with_name("snakesweep")


def cli(*args, timeout=120):
    return subprocess.run(
        [str(SNAKESWEEP), *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def train(config, data, out, *flags, timeout=120):
    """`snakesweep train` on one run config, as the agent job calls it."""
    return cli("train", "--config", config, "--data", data, "--out", out, *flags, timeout=timeout)


@pytest.mark.slow  # trains two epochs on 3,600 digits in a subprocess: not in `make test-fast`
def test_two_epochs_on_the_bundled_split(mnist_npz, tmp_path):
    """What a user is promised: >= 90% test accuracy, model.onnx + metrics.json. (How fast is
    for benchmarks/train_throughput.py: a wall-time limit here would fail on a loaded machine.)"""
    config = tmp_path / "run.yaml"
    config.write_text("epochs: 2\n")
    out = tmp_path / "out"
    proc = train(config, mnist_npz, out, "--threads", "2", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["state"] == "finished"
    assert metrics["final"]["test_accuracy"] >= 0.90
    assert metrics["final"]["test_accuracy"] >= 0.90 and metrics["onnx"]["max_abs_diff"] <= 1e-4
    assert (out / "model.onnx").stat().st_size > 0
    assert list((out / "wandb").glob("offline-run-*/files/model.onnx"))
    assert proc.stderr.count("epoch 1/2") == 1 and proc.stderr.count("epoch 2/2") == 1
    assert "onnx_ir" not in proc.stderr and "onnxscript" not in proc.stderr


def test_bad_config_is_one_line_naming_file_and_key(tiny_npz, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("learnig_rate: 0.1\n")
    proc = train(config, tiny_npz, tmp_path / "out")
    assert proc.returncode == 1
    assert f"{config}: unknown key 'learnig_rate'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_failed_run_exits_non_zero(tiny_npz, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("optimizer: sgd\nlearning_rate: 1.0e+12\nepochs: 1\n")
    proc = train(config, tiny_npz, tmp_path / "out", "--threads", "2", "--wandb-mode", "disabled")
    assert proc.returncode == 1
    assert "run failed: loss became" in proc.stderr and "Traceback" not in proc.stderr
    assert json.loads((tmp_path / "out/metrics.json").read_text())["state"] == "failed"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_gpu_fails_before_training(tiny_npz, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("epochs: 1\n")
    proc = train(config, tiny_npz, tmp_path / "out", "--device", "cuda")
    assert proc.returncode == 1
    assert "no CUDA GPU" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_help_lists_train():
    proc = cli("--help")
    assert proc.returncode == 0 and "train" in proc.stdout
