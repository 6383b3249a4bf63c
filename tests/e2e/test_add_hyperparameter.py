"""Adding a hyperparameter is a schema entry plus the code that uses it, and nothing else: done
here, as the README's contributor section describes it, in a throw-away copy of the checkout.

The copy gets a new key, `activation`, in its run schema and a model that reads it; then its
own package (PYTHONPATH) checks, trains and exports a run with it, its workflow accepts it in
`train:`, and its sweep files may sweep it. No other file of the copy is touched."""

import subprocess
import sys

import onnx
import pytest
import yaml
from workflow_helpers import checkout_env, copy_checkout, snakemake, write_config

pytestmark = pytest.mark.slow

SCHEMA_ENTRY = """\
  activation:
    description: the non-linearity after each conv block
    type: string
    enum: [relu, tanh]
    default: relu
"""

# The contributor's model change: what ConvNet would do with the key, as a wrapper so that it
# does not depend on how ConvNet is written today.
MODEL_CHANGE = """

_build_model_without_activation = build_model


def build_model(config: dict):
    from torch import nn as _nn

    model = _build_model_without_activation(config)
    if config["activation"] == "tanh":
        for parent in list(model.modules()):
            for name, child in parent.named_children():
                if isinstance(child, _nn.ReLU):
                    setattr(parent, name, _nn.Tanh())
    return model
"""


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    repo = copy_checkout(tmp_path_factory.mktemp("contributor") / "repo")
    schema = repo / "workflow/schemas/run.schema.yaml"
    schema.write_text(schema.read_text() + SCHEMA_ENTRY)
    model = repo / "src/snakesweep/convnet/model.py"
    model.write_text(model.read_text() + MODEL_CHANGE)
    return repo


def _train(checkout, run_config, data, out):
    config = write_config(out.parent, run_config, name=f"{out.name}.yaml")
    cli = [
        sys.executable,
        "-m",
        "snakesweep.cli",
        "train",
        "--config",
        str(config),
        "--data",
        str(data),
    ]
    args = ["--out", str(out), "--threads", "1", "--device", "cpu", "--wandb-mode", "disabled"]
    return config, subprocess.run(
        cli + args, capture_output=True, text=True, env=checkout_env(checkout), timeout=300
    )


def test_a_run_trains_with_the_new_hyperparameter(checkout, tiny_npz, tmp_path):
    _, proc = _train(checkout, {"epochs": 1, "activation": "tanh"}, tiny_npz, tmp_path / "tanh")
    assert proc.returncode == 0, proc.stderr[-3000:]
    setup = yaml.safe_load((tmp_path / "tanh/config.yaml").read_text())
    assert setup["run_config"]["activation"] == "tanh"
    ops = {node.op_type for node in onnx.load(tmp_path / "tanh/model.onnx").graph.node}
    assert "Tanh" in ops and "Relu" not in ops


def test_its_values_are_checked_and_named_like_every_other_key(checkout, tiny_npz, tmp_path):
    config, proc = _train(checkout, {"activation": "gelu"}, tiny_npz, tmp_path / "gelu")
    assert proc.returncode == 1
    assert f"{config}: activation: 'gelu' is not one of ['relu', 'tanh']" in proc.stderr
    assert not (tmp_path / "gelu").exists()


def test_the_workflow_and_the_sweep_file_accept_it(checkout):
    config = write_config(checkout, {"train": {"activation": "tanh"}})
    result = snakemake(checkout, "-n", "--configfile", str(config), env=checkout_env(checkout))
    assert result.returncode == 0, result.stdout[-3000:]
    check = (
        "from snakesweep.sweep.spec import validate_sweep; validate_sweep("
        "{'method': 'grid', 'parameters': {'activation': {'values': ['relu', 'tanh']}}}, "
        "'sweep.yaml')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, env=checkout_env(checkout)
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
