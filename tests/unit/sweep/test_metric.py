"""The sweep metric and the ranking, defined once: W&B's behaviour without a metric, the
objective's fallback, and which runs are ranked."""

import math

import pytest

from snakesweep.record.sweep_record import FROM_OBJECTIVE, FROM_SWEEP, Ranking
from snakesweep.sweep.metric import engine_metric, ranking, score

GRID = {"method": "grid", "parameters": {"learning_rate": {"values": [0.1]}}}
CONVNET = {"name": "val_accuracy", "goal": "maximize"}


def test_the_sweep_files_metric_ranks_with_w_and_bs_default_goal():
    config = {**GRID, "metric": {"name": "val_loss"}}
    assert engine_metric(config) == "val_loss"
    assert ranking(config, CONVNET) == Ranking("val_loss", "minimize", FROM_SWEEP)
    assert ranking(config, CONVNET).describe() == "val_loss (minimize)"


def test_without_a_metric_the_engine_sees_none_and_the_objective_ranks():
    assert engine_metric(GRID) is None
    chosen = ranking(GRID, CONVNET)
    assert chosen == Ranking("val_accuracy", "maximize", FROM_OBJECTIVE)
    assert (
        chosen.describe()
        == "val_accuracy (maximize; the sweep file names no metric, so the objective's own)"
    )
    assert ranking(GRID, None) is None  # nothing can be ranked


@pytest.mark.parametrize(
    ("state", "value", "expected"),
    [
        ("finished", 0.5, 0.5),
        ("stopped", 2, 2),
        ("failed", 0.9, None),  # a failed run never ranks, whatever it logged
        ("crashed", 0.9, None),
        ("running", 0.9, None),
        ("finished", math.nan, None),  # NaN or infinity is recorded, never ranked best
        ("finished", math.inf, None),
        ("finished", True, None),
        ("finished", "0.5", None),
        ("finished", None, None),
    ],
)
def test_only_finished_or_stopped_runs_with_a_finite_number_are_ranked(state, value, expected):
    assert score(state, {"m": value}, "m") == expected
