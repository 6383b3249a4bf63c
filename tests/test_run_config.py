import pytest

from snakesweep.errors import UserError
from snakesweep.train.run_config import DEFAULTS, known_parameters, resolve_run_config, run_seed


def test_defaults_fill_missing_keys():
    assert resolve_run_config({}) == DEFAULTS
    assert resolve_run_config({"epochs": 2})["epochs"] == 2


def test_known_parameters():
    assert set(known_parameters()) == set(DEFAULTS)
    assert "learning_rate" in known_parameters()


@pytest.mark.parametrize(
    "config, message",
    [
        ({"learnig_rate": 0.1}, "run config: unknown key 'learnig_rate'"),
        ({"optimizer": "adamw"}, "run config: optimizer must be one of adam, sgd, rmsprop, got 'adamw'"),
        ({"learning_rate": -1}, "learning_rate must be > 0"),
        ({"learning_rate": 0}, "learning_rate must be > 0"),
        ({"learning_rate": "fast"}, "learning_rate must be a number"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"batch_size": 12.5}, "batch_size must be an integer"),
        ({"epochs": True}, "epochs must be an integer"),
        ({"momentum": 1.0}, "momentum must be in [0, 1)"),
        ({"weight_decay": -0.1}, "weight_decay must be >= 0"),
        ({"kernels": [16]}, "kernels must be a list of 2 integers >= 1"),
        ({"kernels": [16, 0]}, "kernels must be a list of 2 integers >= 1"),
        ({"dropout": 1.0}, "dropout must be in [0, 1)"),
        ({"fc_hidden": -1}, "fc_hidden must be >= 0"),
    ],
)
def test_bad_values_name_the_key(config, message):
    with pytest.raises(UserError, match=".*".join(map(__import__("re").escape, [message]))):
        resolve_run_config(config)


def test_source_names_the_file():
    with pytest.raises(UserError, match=r"^sweep\.yaml: unknown key 'lr'"):
        resolve_run_config({"lr": 1}, source="sweep.yaml")


def test_values_are_normalised():
    resolved = resolve_run_config({"learning_rate": "1e-3", "batch_size": 64.0, "optimizer": "SGD"})
    assert resolved["learning_rate"] == 0.001
    assert resolved["batch_size"] == 64 and isinstance(resolved["batch_size"], int)
    assert resolved["optimizer"] == "sgd"


def test_run_seed_depends_on_config_not_spelling():
    assert run_seed(0, {}) == run_seed(0, dict(DEFAULTS)) == run_seed(0, {"epochs": 5})
    assert run_seed(0, {}) != run_seed(1, {})
    assert run_seed(0, {"learning_rate": 0.01}) != run_seed(0, {"learning_rate": 0.02})
    assert run_seed(0, {"batch_size": 64, "epochs": 3}) == run_seed(0, {"epochs": 3, "batch_size": 64})
