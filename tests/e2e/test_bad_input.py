"""Mistakes a user can make: each ends with one clear line naming the file and the key (or
line), a non-zero exit, and no partial output."""

import shutil

import numpy as np
import pytest
from workflow_helpers import copy_workflow, snakemake, tiny_config

from snakesweep.data.arrays import load_arrays, save_arrays

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A workflow copy whose data stage has run, to start each case from."""
    work = copy_workflow(tmp_path_factory.mktemp("prepared") / "w")
    config = tiny_config(work, agents=1)
    result = snakemake(work, "results/data/mnist.npz", "--cores", "2", "--configfile", str(config))
    assert result.returncode == 0, result.stdout[-3000:]
    return work


def _copy(prepared, tmp_path):
    work = tmp_path / "w"
    shutil.copytree(prepared, work, symlinks=True)
    return work


def _error_lines(output):
    """The distinct error messages (an agent job is tried twice: `retries: 1`)."""
    return sorted(
        {line.split(" ERROR ", 1)[1] for line in output.splitlines() if " ERROR " in line}
    )


def _fails_with(work, expected, *args, **overrides):
    overrides["agents"] = {"count": 1, **overrides.get("agents", {})}
    config = tiny_config(work, **overrides)
    result = snakemake(work, "--cores", "2", *args, "--configfile", str(config))
    assert result.returncode != 0
    assert expected in result.stdout, result.stdout[-4000:]
    assert "Traceback" not in result.stdout
    return result


def test_malformed_config_yaml_names_the_file_and_line(tmp_path):
    work = copy_workflow(tmp_path / "w")
    (work / "configs/config.yaml").write_text("seed: 0\ndata:\n  source: [auto\n")
    result = snakemake(work, "-n")
    assert result.returncode != 0
    assert "configs/config.yaml: not valid YAML at line 4, column 1" in result.stdout


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"agents": {"count": 0}},
            "invalid config at agents.count: 0 is less than the minimum of 1",
        ),
        (
            {"data": {"fraction": 0}},
            "invalid config at data.fraction: 0 is less than or equal to the minimum of 0",
        ),
        ({"agents": {"device": "gpu"}}, "invalid config at agents.device: 'gpu' is not one of"),
        (
            {"train": {"learnig_rate": 0.1}},
            "invalid config at train: Additional properties are not allowed ('learnig_rate'",
        ),
    ],
)
def test_schema_errors_name_the_file_and_key_before_any_job(tmp_path, overrides, expected):
    work = copy_workflow(tmp_path / "w")
    result = _fails_with(work, expected, "-n", **overrides)
    assert "test-config.yaml: invalid config at" in result.stdout
    assert not (work / "results").exists()


def test_malformed_sweep_yaml_is_caught_at_register(prepared, tmp_path):
    work = _copy(prepared, tmp_path)
    result = _fails_with(
        work,
        "configs/tiny-sweep.yaml: not valid YAML at line 4, column 1",
        sweep="method: grid\nparameters:\n  lr: [1\n",
    )
    assert len(_error_lines(result.stdout)) == 1
    assert not (work / "results/sweep/sweep.json").exists()


def test_unknown_parameter_is_caught_at_register_not_after_an_hour(prepared, tmp_path):
    work = _copy(prepared, tmp_path)
    sweep = "method: grid\nparameters:\n  learnig_rate: {values: [0.1]}\n"
    _fails_with(
        work,
        "configs/tiny-sweep.yaml: parameters.learnig_rate: the trainer has no parameter",
        sweep=sweep,
    )
    assert not (work / "results/sweep/sweep.json").exists() and not (work / "results/runs").exists()


def test_metric_the_trainer_never_logs_is_caught_at_register(prepared, tmp_path):
    work = _copy(prepared, tmp_path)
    sweep = (
        "method: grid\nmetric: {name: accuracy}\nparameters:\n  learning_rate: {values: [0.1]}\n"
    )
    _fails_with(work, "metric.name: the trainer never logs 'accuracy'", sweep=sweep)
    assert not (work / "results/sweep/sweep.json").exists()


def test_cuda_without_a_gpu_stops_the_agent_before_any_training(prepared, tmp_path):
    work = _copy(prepared, tmp_path)
    result = _fails_with(
        work,
        "test-config.yaml: agents.device is cuda but torch sees no CUDA GPU",
        agents={"device": "cuda"},
    )
    assert len(_error_lines(result.stdout)) == 1
    assert not (work / "results/runs").exists() and not (work / "results/sweep/agents").exists()


def test_wandb_controller_with_offline_mode_is_refused(prepared, tmp_path):
    work = _copy(prepared, tmp_path)
    _fails_with(
        work,
        "sweep.controller is wandb but wandb.mode is offline: W&B has no offline sweeps",
        sweep={"controller": "wandb"},
    )
    assert not (work / "results/sweep/sweep.json").exists()


def test_wandb_controller_without_an_api_key_is_refused(prepared, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    work = _copy(prepared, tmp_path)
    _fails_with(
        work,
        "sweep.controller is wandb but no W&B API key was found "
        "(set WANDB_API_KEY or run `wandb login`)",
        sweep={"controller": "wandb"},
        wandb={"mode": "online"},
    )
    assert not (work / "results/sweep/sweep.json").exists()


def test_corrupted_dataset_is_caught_before_any_agent(prepared, tmp_path):
    work = _copy(prepared, tmp_path)
    path = work / "results/data/mnist.npz"
    arrays = load_arrays(path)
    arrays["x_train"] = arrays["x_train"].copy()
    arrays["x_train"][0, 0, 0] = np.uint8(arrays["x_train"][0, 0, 0] ^ 1)  # one bit of one pixel
    save_arrays(path, arrays)
    _fails_with(
        work,
        "results/data/mnist.npz: array x_train does not match the sha256 in "
        "results/data/manifest.json",
    )
    assert not (work / "results/sweep/sweep.json").exists() and not (work / "results/runs").exists()
