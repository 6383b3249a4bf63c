import re

import jsonschema
import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from snakesweep import paths
from snakesweep.convnet.run_config import (
    defaults,
    known_parameters,
    load_schema,
    resolve_run_config,
    run_seed,
)
from snakesweep.errors import UserError
from snakesweep.objective import convnet_checks
from snakesweep.sweep.spec import validate_sweep

CONFIG_SCHEMA = str(paths.CONFIG_SCHEMA)

# The W&B PyTorch intro's settings. Every run seed is derived from the resolved config, so a
# changed default or normalisation changes every result: these pins make that change visible.
INTRO_DEFAULTS = {
    "learning_rate": 0.005,
    "batch_size": 128,
    "epochs": 5,
    "optimizer": "adam",
    "momentum": 0.0,
    "weight_decay": 0.0,
    "kernels": [16, 32],
    "dropout": 0.0,
    "fc_hidden": 0,
}
SEED_OF_THE_DEFAULT_RUN = 2968986415005035294  # run_seed(0, {}) before the schema held the defaults


def test_the_schema_is_valid_and_gives_every_key_a_default():
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert all("default" in spec for spec in schema["properties"].values())
    assert schema["additionalProperties"] is False


def test_defaults_come_from_the_schema_and_fill_missing_keys():
    assert defaults(load_schema()) == INTRO_DEFAULTS
    assert resolve_run_config({}) == INTRO_DEFAULTS
    assert resolve_run_config({"epochs": 2}) == {**INTRO_DEFAULTS, "epochs": 2}
    resolve_run_config({})["kernels"].append(64)  # callers get their own copy
    assert resolve_run_config({})["kernels"] == [16, 32]


def test_run_seeds_are_unchanged():
    assert run_seed(0, {}) == run_seed(0, INTRO_DEFAULTS) == SEED_OF_THE_DEFAULT_RUN


def _config_is_valid(train: dict) -> bool:
    try:
        validate({"seed": 0, "data": {}, "train": train}, CONFIG_SCHEMA)
    except WorkflowError:
        return False
    return True


@pytest.mark.parametrize("key", known_parameters())
def test_the_workflow_the_sweep_and_the_trainer_accept_the_same_keys(key):
    assert _config_is_valid({key: INTRO_DEFAULTS[key]})
    validate_sweep(
        {"method": "grid", "parameters": {key: {"value": INTRO_DEFAULTS[key]}}},
        "sweep.yaml",
        convnet_checks(),
    )
    assert resolve_run_config({key: INTRO_DEFAULTS[key]}) == INTRO_DEFAULTS


def test_the_workflow_and_the_trainer_reject_the_same_values():
    for key, bad in (
        ("epochs", 0),
        ("optimizer", "adamw"),
        ("kernels", [16]),
        ("momentum", 1.0),
        ("lr", 0.1),
    ):
        assert not _config_is_valid({key: bad}), key
        with pytest.raises(UserError):
            resolve_run_config({key: bad})


@pytest.mark.parametrize(
    "config, message",
    [
        (
            {"learnig_rate": 0.1},
            "run config: unknown key 'learnig_rate' (known: batch_size, dropout,",
        ),
        (
            {"optimizer": "adamw"},
            "run config: optimizer: 'adamw' is not one of ['adam', 'sgd', 'rmsprop']",
        ),
        (
            {"learning_rate": -1},
            "run config: learning_rate: -1.0 is less than or equal to the minimum of 0",
        ),
        ({"learning_rate": 0}, "learning_rate: 0.0 is less than or equal to the minimum of 0"),
        ({"learning_rate": "fast"}, "learning_rate: 'fast' is not of type 'number'"),
        ({"learning_rate": float("nan")}, "learning_rate: nan is not of type 'number'"),
        ({"weight_decay": float("inf")}, "weight_decay: inf is not of type 'number'"),
        ({"batch_size": 0}, "batch_size: 0 is less than the minimum of 1"),
        ({"batch_size": 12.5}, "batch_size: 12.5 is not of type 'integer'"),
        ({"epochs": True}, "epochs: True is not of type 'integer'"),
        ({"momentum": 1.0}, "momentum: 1.0 is greater than or equal to the maximum of 1"),
        ({"weight_decay": -0.1}, "weight_decay: -0.1 is less than the minimum of 0"),
        ({"kernels": [16]}, "kernels: [16] is too short"),
        ({"kernels": [16, 0]}, "kernels.1: 0 is less than the minimum of 1"),
        ({"dropout": 1.0}, "dropout: 1.0 is greater than or equal to the maximum of 1"),
        ({"fc_hidden": -1}, "fc_hidden: -1 is less than the minimum of 0"),
    ],
)
def test_bad_values_name_the_key(config, message):
    with pytest.raises(UserError, match=re.escape(message)):
        resolve_run_config(config)


def test_source_names_the_file():
    with pytest.raises(UserError, match=r"^sweep\.yaml: unknown key 'lr'"):
        resolve_run_config({"lr": 1}, source="sweep.yaml")
    with pytest.raises(UserError, match=r"^run\.yaml: epochs: 0 is less"):
        resolve_run_config({"epochs": 0}, source="run.yaml")


def test_values_are_normalised():
    resolved = resolve_run_config(
        {"learning_rate": "1e-3", "batch_size": 64.0, "optimizer": "SGD", "momentum": 0}
    )
    assert resolved["learning_rate"] == 0.001
    assert resolved["batch_size"] == 64 and isinstance(resolved["batch_size"], int)
    assert resolved["optimizer"] == "sgd"
    assert resolved["momentum"] == 0.0 and isinstance(resolved["momentum"], float)


def test_run_seed_depends_on_config_not_spelling():
    assert (
        run_seed(0, {})
        == run_seed(0, {"epochs": 5})
        == run_seed(0, {"momentum": 0, "optimizer": "Adam"})
    )
    assert run_seed(0, {}) != run_seed(1, {})
    assert run_seed(0, {"learning_rate": 0.01}) != run_seed(0, {"learning_rate": 0.02})
    assert run_seed(0, {"batch_size": 64, "epochs": 3}) == run_seed(
        0, {"epochs": 3, "batch_size": 64}
    )


def test_a_new_hyperparameter_needs_only_a_schema_entry():
    """What the README's contributor section promises, on a throw-away copy of the schema; the
    end-to-end version (schema + model, trained by the CLI) is in test_add_hyperparameter.py."""
    schema = yaml.safe_load((paths.RUN_SCHEMA).read_text())
    schema["properties"]["activation"] = {
        "type": "string",
        "enum": ["relu", "tanh"],
        "default": "relu",
    }
    assert "activation" in known_parameters(schema)
    assert resolve_run_config({}, schema=schema) == {**INTRO_DEFAULTS, "activation": "relu"}
    assert resolve_run_config({"activation": "TANH"}, schema=schema)["activation"] == "tanh"
    with pytest.raises(
        UserError, match=re.escape("run config: activation: 'gelu' is not one of ['relu', 'tanh']")
    ):
        resolve_run_config({"activation": "gelu"}, schema=schema)
    with pytest.raises(UserError, match="unknown key 'activation'"):
        resolve_run_config({"activation": "tanh"})  # the real schema does not have it
