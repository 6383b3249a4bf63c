"""Sweep files are checked by W&B's engine and against the trainer, with the file named."""

import pytest

from snakesweep.errors import UserError
from snakesweep.objective import convnet_checks
from snakesweep.sweep.spec import load_sweep_file, run_config


def _load(tmp_path, text):
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    return load_sweep_file(path, convnet_checks())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("method: gridd\nparameters: {learning_rate: {values: [0.1]}}\n", "'gridd' is not one of"),
        (
            "method: random\nparameters: {learning_rate: {min: 5, max: 1}}\n",
            "learning_rate: min 5 is not less than max 1",
        ),
        (
            "method: bayes\nparameters: {learning_rate: {min: 0.1, max: 1.0}}\n",
            'Bayesian search requires "metric" section',
        ),
        (
            "method: grid\nparameters: {learning_rate: {min: 0.1, max: 1.0}}\n",
            "disallowed type with grid search",
        ),
        (
            "method: grid\nparameters: {learning_rate: {values: []}}\n",
            "invalid hyperparameter configuration: learning_rate",
        ),
        (
            "method: grid\nfoo: 1\nparameters: {learning_rate: {values: [1]}}\n",
            "'foo' was unexpected",
        ),
        (
            "method: grid\nparameters: {learnig_rate: {values: [0.1]}}\n",
            "parameters.learnig_rate: the trainer has no parameter",
        ),
        (
            "method: grid\nmetric: {name: acc}\nparameters: {learning_rate: {values: [0.1]}}\n",
            "metric.name: the trainer never logs 'acc'",
        ),
        (
            "method: grid\nmetric: {name: test_accuracy, goal: maximize}\n"
            "early_terminate: {type: hyperband, min_iter: 1}\n"
            "parameters: {learning_rate: {values: [0.1]}}\n",
            "early_terminate needs a metric logged every epoch",
        ),
        ("method: grid\nparameters: [oops\n", "not valid YAML"),
        ("- a list\n", "must be a mapping"),
    ],
)
def test_bad_sweep_files_name_the_file_and_the_problem(tmp_path, text, message):
    with pytest.raises(UserError) as info:
        _load(tmp_path, text)
    assert str(info.value).startswith(f"{tmp_path / 'sweep.yaml'}: ")
    assert message in str(info.value)


def test_missing_file_names_the_config_key(tmp_path):
    with pytest.raises(UserError, match="sweep file not found \\(config key sweep.file\\)"):
        load_sweep_file(tmp_path / "nope.yaml")


def test_nested_groups_flatten_to_trainer_keys(tmp_path):
    spec = _load(
        tmp_path,
        "method: random\nparameters:\n  learning_rate: {values: [0.1]}\n"
        "  reg:\n    parameters:\n      dropout: {min: 0.0, max: 0.5}\n",
    )
    assert spec["parameters"]["reg"]["parameters"]["dropout"] == {"min": 0.0, "max": 0.5}
    suggestion = {
        "learning_rate": {"value": 0.1},
        "reg": {"value": {"dropout": 0.2}},
        "kernels": {"value": [8, 16]},
    }
    assert run_config(spec["parameters"], suggestion) == {
        "learning_rate": 0.1,
        "dropout": 0.2,
        "kernels": [8, 16],
    }


def test_a_mapping_value_that_is_not_a_group_stays_one_parameter():
    parameters = {
        "layers": {"values": [{"a": 1}]},
        "reg": {"parameters": {"dropout": {"value": 0.1}}},
    }
    suggestion = {"layers": {"value": {"a": 1}}, "reg": {"value": {"dropout": 0.1}}}
    assert run_config(parameters, suggestion) == {"layers": {"a": 1}, "dropout": 0.1}


def test_without_checks_any_parameter_and_metric_pass(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(
        "method: grid\nmetric: {name: my_loss}\nparameters: {layer1_size: {values: [8, 16]}}\n"
    )
    assert load_sweep_file(path)["parameters"] == {"layer1_size": {"values": [8, 16]}}


def test_shipped_sweep_files_are_valid():
    from workflow_helpers import REPO

    for path in sorted((REPO / "configs/sweeps").glob("*.yaml")):
        assert load_sweep_file(path, convnet_checks())["parameters"]
