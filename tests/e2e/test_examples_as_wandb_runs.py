"""The examples in examples/ are W&B users' code: each runs here the way W&B's agent runs it,
offline, with no snakesweep in the loop.

For each example the engine (`sweeps`, the one behind W&B's controller) picks the run's
parameters from the example's own sweep.yaml; they are written where the agent writes them,
with wandb's own writer, and named by WANDB_SWEEP_PARAM_PATH. A `program:` is started as
`python train.py --k=v ...` (the agent's default command, its flags formatted by wandb's own
code); a `function` is imported from train.py and called in a fresh process. Each run must exit
0 and leave an offline run whose config holds the sweep's parameters and whose history holds
the sweep's metric, read back with wandb's own reader (`wandb leet inspect`)."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import sweeps
import yaml
from wandb.sdk.launch.sweeps.utils import create_sweep_command_args
from wandb.sdk.lib.config_util import save_config_file_from_dict
from wandb_helpers import history, summary

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# What each example logs besides its sweep metric, if it has one.
LOGGED = {
    "cnn-function": {"loss", "accuracy", "val_loss", "val_accuracy"},
    "digits-program": {"loss", "val_loss"},
    "mlp-config-program": {"loss", "val_loss", "val_accuracy"},
    "mlp-argparse-program": {"train_loss", "val_loss", "val_accuracy"},
    "intro-pipeline-program": {"loss", "test_accuracy"},
    "simulated-curves-function": {"loss", "val_loss"},
}

# How the agent runs a function: `wandb.agent(sweep_id, function=train)` calls it with the
# agent's environment set; snakesweep names it as `path/to/train.py:train`.
CALL_FUNCTION = """
import importlib.util, random, sys
path, name = sys.argv[1].rsplit(":", 1)
spec = importlib.util.spec_from_file_location("train", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
if len(sys.argv) > 2:
    random.seed(int(sys.argv[2]))
getattr(module, name)()
"""


def sweep_file(example: str) -> dict:
    return yaml.safe_load((EXAMPLES / example / "sweep.yaml").read_text())


def first_suggestion(sweep: dict) -> dict:
    """The parameters of the sweep's first run, as the engine suggests them (seeded here, so
    that the test always runs the same ones), in plain Python types."""
    random.seed(0)
    np.random.seed(0)
    run = sweeps.next_run(sweep, [], validate=True)
    return {
        name: getattr(item["value"], "item", lambda v=item["value"]: v)()
        for name, item in run.config.items()
    }


def run_as_agent(
    example: str, params: dict, data: Path, work: Path, run_id: str, seed: int | None = None
):
    """Run one of the example's runs as W&B's agent would; returns (run folder, seconds)."""
    code = work / "code"
    shutil.copytree(EXAMPLES / example, code)  # the agent's working directory is the user's
    wandb_dir = work / "wandb_dir"
    param_path = wandb_dir / "wandb" / "sweep-local" / f"config-{run_id}.yaml"
    args = {name: {"value": value} for name, value in params.items()}
    save_config_file_from_dict(str(param_path), args)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("WANDB_", "SNAKESWEEP_"))
    }
    env.update(
        WANDB_MODE="offline",
        WANDB_DIR=str(wandb_dir),
        WANDB_CACHE_DIR=str(work / "cache"),
        WANDB_CONFIG_DIR=str(work / "config"),
        WANDB_SWEEP_PARAM_PATH=str(param_path),
        WANDB_RUN_ID=run_id,
        SNAKESWEEP_DATA=str(data),
        MNIST_ROOT=str(work / "no-mnist-here"),
    )
    if "program" in sweep_file(example):
        argv = [
            sys.executable,
            sweep_file(example)["program"],
            *create_sweep_command_args({"args": args})["args"],
        ]
    else:
        argv = [
            sys.executable,
            "-c",
            CALL_FUNCTION,
            "train.py:train",
            *([str(seed)] if seed is not None else []),
        ]
    start = time.monotonic()
    done = subprocess.run(argv, cwd=code, env=env, capture_output=True, text=True, timeout=300)
    seconds = time.monotonic() - start
    assert done.returncode == 0, f"{example} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    runs = list((wandb_dir / "wandb").glob(f"offline-run-*-{run_id}"))
    assert len(runs) == 1, f"{example}: expected one offline run {run_id}, found {runs}"
    assert (runs[0] / f"run-{run_id}.wandb").is_file()
    return runs[0], seconds


def test_the_cnn_sweep_is_a_plain_grid_without_a_metric():
    """The example of a sweep that ranks nothing: a grid over the learning rate, no metric."""
    no_metric = {"method": "grid", "parameters": {"learning_rate": {"values": [0.001, 0.01, 0.1]}}}
    assert sweep_file("cnn-function") == no_metric


@pytest.mark.parametrize("example", sorted(LOGGED))
def test_an_example_runs_as_the_wandb_agent_runs_it(example, mnist_npz, tmp_path, measurement):
    sweep = sweep_file(example)
    params = first_suggestion(sweep)
    run_dir, seconds = run_as_agent(example, params, mnist_npz, tmp_path, run_id="ex0run01")
    measurement(f"{example}: one run as W&B's agent runs it, {seconds:.1f} s")

    record = summary(run_dir)
    assert record["state"] == "finished" and record["exit_code"] == 0
    # The run's parameters reach wandb.config over the code's own defaults. For the functions and
    # the programs that parse no flags the only way in is WANDB_SWEEP_PARAM_PATH (wandb reads it
    # without WANDB_SWEEP_ID), and every first suggestion differs from the code's defaults.
    assert {name: record["config"].get(name) for name in params} == params
    logged = LOGGED[example] | ({sweep["metric"]["name"]} if "metric" in sweep else set())
    assert logged <= set(record["summary"]), f"{example} logged {sorted(record['summary'])}"
    assert all(isinstance(record["summary"][key], float) for key in logged - {"epoch"})
    if example == "intro-pipeline-program":
        check_saved_onnx(run_dir, tmp_path / "code", mnist_npz)


def check_saved_onnx(run_dir, code, data):
    """The intro's wandb.save("model.onnx") kept a whole model: weights inside, any batch size."""
    import onnx
    import onnxruntime

    saved = run_dir / "files" / "model.onnx"  # wandb's own files/ folder
    assert saved.is_file()
    assert not (code / "model.onnx.data").exists()  # torch.onnx.export's default since 2.9
    onnx.checker.check_model(onnx.load(str(saved)), full_check=True)
    session = onnxruntime.InferenceSession(str(saved), providers=["CPUExecutionProvider"])
    with np.load(data) as arrays:
        images = (arrays["x_test"][:5, None] / 255).astype(np.float32)
    (logits,) = session.run(None, {"images": images})
    assert logits.shape == (5, 10)  # any batch size, not only the last training batch's


def test_the_argparse_mlp_logs_the_same_numbers_for_the_same_flags(mnist_npz, tmp_path):
    """Byte for byte: what a reproducible sweep of this program relies on. Hyperband needs one
    val_loss per epoch."""
    params = {"learning_rate": 0.003, "batch_size": 32, "hidden": 32, "epochs": 3}
    first, _ = run_as_agent("mlp-argparse-program", params, mnist_npz, tmp_path / "a", "argp0001")
    second, _ = run_as_agent("mlp-argparse-program", params, mnist_npz, tmp_path / "b", "argp0002")
    rows = history(first)
    assert [row["epoch"] for row in rows] == [1, 2, 3] and all("val_loss" in row for row in rows)
    assert json.dumps(rows) == json.dumps(history(second))
    assert rows[-1]["val_accuracy"] > 0.5  # it learns: ten classes, chance is 0.1


def test_the_simulated_curves_are_noisy_unless_python_random_is_seeded(mnist_npz, tmp_path):
    """The function draws its noise from the unseeded `random` module: two runs of the same
    parameters differ, and seeding `random` before calling it, as snakesweep will, makes them
    equal."""
    params = {"learning_rate": 0.003, "batch_size": 32, "dropout": 0.2}
    curves = []
    for name, seed in (("u1", None), ("u2", None), ("s1", 7), ("s2", 7)):
        run_dir, _ = run_as_agent(
            "simulated-curves-function", params, mnist_npz, tmp_path / name, f"sim0{name}0", seed
        )
        curves.append([row["val_loss"] for row in history(run_dir)])
    assert len(curves[0]) == 10
    assert curves[0] != curves[1]
    assert curves[2] == curves[3]
