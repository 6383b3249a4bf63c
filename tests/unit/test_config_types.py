"""`--config` values get the schema's types before validation."""

import pytest
from workflow_helpers import copy_workflow, snakemake

from snakesweep import paths
from snakesweep.config_types import coerce, typed_command_line

SCHEMA = paths.CONFIG_SCHEMA


def test_nested_strings_get_the_types_the_schema_asks_for():
    # what Snakemake's parser makes of: seed=3 agents='{count: 3}' sweep='{entity: null, ...}' ...
    given = {
        "seed": 3,
        "agents": {"count": "3", "device": "cpu"},
        "sweep": {"entity": "null", "heartbeat_timeout": "1e2", "project": "123"},
        "data": {"fraction": "0.5", "mirrors": ["file:///m/"]},
        "train": {"kernels": ["8", "16"], "learning_rate": "1e-3", "optimizer": "sgd"},
    }
    assert typed_command_line(given, SCHEMA) == {
        "seed": 3,
        "agents": {"count": 3, "device": "cpu"},
        "sweep": {
            "entity": None,
            "heartbeat_timeout": 100.0,
            "project": "123",
        },  # a string may stay one
        "data": {"fraction": 0.5, "mirrors": ["file:///m/"]},
        "train": {
            "kernels": [8, 16],
            "learning_rate": 0.001,
            "optimizer": "sgd",
        },  # via run.schema.yaml
    }


@pytest.mark.parametrize("value", ["many", "3.5", "nan", "inf", ""])
def test_a_string_that_fits_no_type_is_left_for_validation_to_reject(value):
    assert coerce({"count": value}, {"properties": {"count": {"type": "integer"}}}) == {
        "count": value
    }


def test_booleans_and_unknown_keys():
    schema = {"properties": {"flag": {"type": "boolean"}}}
    assert coerce({"flag": "true", "other": "1"}, schema) == {"flag": True, "other": "1"}
    assert coerce({"flag": "maybe"}, schema) == {"flag": "maybe"}


@pytest.mark.slow
def test_dry_run_plans_the_agents_given_on_the_command_line_and_rejects_a_bad_count(tmp_path):
    work = copy_workflow(tmp_path / "w")
    planned = snakemake(work, "-n", "--config", "agents={count: 3}")
    assert planned.returncode == 0, planned.stdout[-3000:]
    assert any(line.split() == ["agent", "3"] for line in planned.stdout.splitlines()), (
        planned.stdout
    )
    rejected = snakemake(work, "-n", "--config", "agents={count: many}")
    assert rejected.returncode != 0
    errors = [line for line in rejected.stdout.splitlines() if "invalid config" in line]
    assert errors == [
        "--config (command line): invalid config at agents.count: 'many' is not of type 'integer'"
    ]
