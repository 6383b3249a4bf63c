"""The workflow's settings, one object per stage: the config schema's defaults filled in where
the config says nothing, each stage given what it uses and only that, and the config file that
set a value named for error messages."""

import dataclasses

import yaml

from snakesweep import paths
from snakesweep.settings import (
    AgentSettings,
    Config,
    FetchSettings,
    RegisterSettings,
    SplitSettings,
    with_defaults,
)

SCHEMA = yaml.safe_load(paths.CONFIG_SCHEMA.read_text())


def default(*keys):
    """The schema's default for `keys` (e.g. "sweep", "parallelism")."""
    spec = SCHEMA
    for key in keys:
        spec = spec["properties"][key]
    return spec["default"]


def test_an_empty_config_is_the_schemas_defaults():
    config = Config({})
    assert config.register().parallelism == default("sweep", "parallelism")
    assert config.agent().heartbeat_timeout == default("sweep", "heartbeat_timeout")
    assert config.agent().max_attempts == default("sweep", "max_attempts")
    assert config.agent().runs == default("agents", "runs")
    assert config.fetch().mirrors == tuple(default("data", "mirrors"))
    assert config.split().fraction == default("data", "fraction")
    assert config.values["data"]["prepare"] == default("data", "prepare")


def test_defaults_are_filled_in_section_by_section_and_nothing_set_is_replaced():
    config = Config({"seed": 3, "data": {"source": "bundled"}, "train": {"epochs": 2}})
    assert config.fetch() == FetchSettings(
        "bundled",
        default("data", "path"),
        tuple(default("data", "mirrors")),
        default("data", "timeout"),
    )
    assert config.split() == SplitSettings(
        3,
        default("data", "fraction"),
        default("data", "val_fraction"),
        default("data", "test_fraction"),
    )
    assert config.register().train == {"epochs": 2}
    # a value the schema has no default for, and one it does not know, are left as they are
    assert with_defaults({"extra": 1}, {"properties": {"x": {}}}) == {"extra": 1}


def test_each_stage_gets_what_the_config_says():
    values = {
        "seed": 7,
        "sweep": {
            "file": "exp/sweep.yaml",
            "controller": "wandb",
            "store": "postgresql://sweeper@db.example:5433/sweeps",
            "single_node": True,
            "parallelism": 2,
            "function": "train.py:train",
            "run_timeout": 30,
            "project": "p",
            "entity": "team",
            "heartbeat_timeout": 60,
            "max_attempts": 5,
        },
        "agents": {"runs": 3, "device": "cpu", "threads": 4, "per_gpu": 2},
        "wandb": {"mode": "online"},
        "train": {"epochs": 1},
    }
    config = Config(values)
    register = config.register()
    assert dataclasses.astuple(register)[:12] == (
        7,
        "exp/sweep.yaml",
        "wandb",
        "postgresql://sweeper@db.example:5433/sweeps",
        True,
        2,
        "train.py:train",
        30,
        "p",
        "team",
        {"epochs": 1},
        "online",
    )
    assert isinstance(register, RegisterSettings)
    agent = config.agent()
    assert isinstance(agent, AgentSettings)
    assert (agent.runs, agent.device, agent.threads, agent.per_gpu, agent.wandb_mode) == (
        3,
        "cpu",
        4,
        2,
        "online",
    )
    assert (agent.heartbeat_timeout, agent.max_attempts) == (60, 5)


def test_more_agents_leave_the_sweeps_registration_as_it_was():
    """Snakemake reruns a job whose params changed: raising agents.count, or an agent's runs or
    threads, must not register the sweep again."""
    before = Config({"agents": {"count": 2}})
    after = Config({"agents": {"count": 8, "runs": 5, "threads": 2}})
    assert after.register() == before.register()
    assert after.fetch() == before.fetch() and after.split() == before.split()
    assert after.agent() != before.agent()


def test_settings_name_the_config_file_that_set_them(tmp_path):
    base, override = tmp_path / "config.yaml", tmp_path / "override.yaml"
    base.write_text(yaml.safe_dump({"sweep": {"controller": "local"}, "train": {"epochs": 2}}))
    override.write_text(yaml.safe_dump({"agents": {"device": "cpu"}}))
    values = {"sweep": {"controller": "local"}, "agents": {"device": "cpu"}, "train": {"epochs": 2}}
    config = Config(values, [str(override), str(base)])  # Snakemake's order: overrides first
    assert config.register().config_file == str(base)
    assert config.register().train_source == str(base)
    assert config.agent().config_file == str(override)
    on_the_command_line = Config({"agents": {"device": "cuda"}}, [str(override), str(base)])
    assert on_the_command_line.agent().config_file == "--config (command line)"
