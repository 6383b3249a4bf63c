"""The built-in ConvNet as an objective (snakesweep/convnet/objective.py): its resolved defaults,
the summary a run leaves in the store, and what a sweep is told of it (its metrics and its
default ranking). Not test_objective.py: pytest imports test files by their basename, and
tests/unit/test_objective.py is snakesweep/objective.py's."""

import pytest

from snakesweep.convnet.objective import (
    DEFAULT_RANKING,
    EPOCH_METRICS,
    METRICS,
    resolved_defaults,
    run_summary,
)
from snakesweep.convnet.run_config import defaults, load_schema
from snakesweep.errors import UserError


def test_no_overrides_and_the_defaults_spelled_out_are_the_same_experiment():
    spelled_out = defaults(load_schema())
    assert resolved_defaults({}, "c.yaml") == resolved_defaults(spelled_out, "c.yaml")
    assert resolved_defaults({"epochs": 2}, "c.yaml") == {**spelled_out, "epochs": 2}


def test_a_bad_default_names_the_config_file_and_its_train_section():
    with pytest.raises(UserError, match=r"^c\.yaml: train: .*unknown key 'lr'"):
        resolved_defaults({"lr": 0.1}, "c.yaml")


def test_a_runs_summary_is_each_numbers_last_value_then_the_final_metrics():
    metrics = {
        "history": [
            {"epoch": 1, "val_accuracy": 0.5, "val_loss": 2.0},
            {"epoch": 2, "val_accuracy": 0.75, "val_loss": 1.0},
        ],
        "final": {"test_accuracy": 0.7, "epochs_completed": 2, "flag": True, "note": "x"},
    }
    assert run_summary(metrics) == {
        "epoch": 2,
        "val_accuracy": 0.75,
        "val_loss": 1.0,
        "test_accuracy": 0.7,
        "epochs_completed": 2,
    }
    assert run_summary({"history": [], "final": None}) == {}  # a run that failed at once


def test_the_default_ranking_is_a_metric_logged_every_epoch():
    assert DEFAULT_RANKING["name"] in EPOCH_METRICS and set(EPOCH_METRICS) <= set(METRICS)
    assert DEFAULT_RANKING["goal"] in ("maximize", "minimize")
