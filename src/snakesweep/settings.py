"""The workflow's settings, typed: one object per stage, made from the validated config.

Each rule hands its stage one settings object (`params: settings=...`), so a setting is named
in the config schema, here, and where it is used, and never relayed through a dozen keyword
arguments. Each object holds exactly what its stage uses: Snakemake reruns a job whose params
changed, so raising `agents.count`, say, must not touch the sweep's registration.

Defaults live in the config schema alone. Snakemake's `validate()` fills them in; `Config`
fills them in too, for a config that was not validated (a test's, or a benchmark's).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from snakesweep import paths
from snakesweep.config_errors import file_defining


@dataclasses.dataclass(frozen=True)
class FetchSettings:
    """Fetching MNIST: where from."""

    source: str  # auto, local, download or bundled
    path: str | None  # a local copy's folder
    mirrors: tuple[str, ...]
    timeout: float  # seconds per mirror


@dataclasses.dataclass(frozen=True)
class SplitSettings:
    """Splitting MNIST into the seeded, stratified train, validation and test splits."""

    seed: int
    fraction: float  # of the full train and test sets kept
    val_fraction: float
    test_fraction: float  # of the bundled sample, which has no test split of its own


@dataclasses.dataclass(frozen=True)
class RegisterSettings:
    """Registering the sweep: everything that decides what its runs are."""

    seed: int
    sweep_file: str
    controller: str  # local or wandb
    store: str  # file, or a PostgreSQL server's URL (without a password)
    single_node: bool  # the file store need not hold across nodes
    parallelism: int
    function: str | None
    run_timeout: float | None
    project: str
    entity: str | None
    train: dict  # the ConvNet's defaults as the config overrides them
    wandb_mode: str
    config_file: str  # the config file that sets sweep.*, for error messages
    train_source: str  # the config file that sets train


@dataclasses.dataclass(frozen=True)
class AgentSettings:
    """One agent job: how many runs, on what device, and how its runs are watched."""

    runs: int
    device: str  # auto, cpu or cuda
    threads: int
    per_gpu: int
    wandb_mode: str
    heartbeat_timeout: float
    max_attempts: int
    config_file: str  # the config file that sets agents.*, for error messages
    workdir: str = "run"  # where the user's code starts: its run's files/ (run) or the project


@functools.cache
def _schema() -> dict:
    return yaml.safe_load(paths.CONFIG_SCHEMA.read_text())


def with_defaults(values: Mapping[str, Any], schema: Mapping[str, Any]) -> dict:
    """`values` with every default of `schema` filled in where a key is missing, section by
    section, as `validate(set_default=True)` does."""
    filled = dict(values)
    for key, spec in schema.get("properties", {}).items():
        if key not in filled and "default" in spec:
            filled[key] = spec["default"]
        if isinstance(filled.get(key), Mapping) and "properties" in spec:
            filled[key] = with_defaults(filled[key], spec)
    return filled


class Config:
    """The config's values, defaults filled in, and the files they came from; each stage's
    settings are made from it."""

    def __init__(self, config: Mapping[str, Any], config_files: Sequence[str] = ()):
        self.values = with_defaults(config, _schema())
        self.files = tuple(str(name) for name in config_files)

    def where(self, *keys: str) -> str:
        """The config file whose value of `keys` is in effect (or the command line)."""
        value: Any = self.values
        for key in keys:
            value = value[key]
        return file_defining(list(keys), value, self.files)

    def fetch(self) -> FetchSettings:
        data = self.values["data"]
        return FetchSettings(data["source"], data["path"], tuple(data["mirrors"]), data["timeout"])

    def split(self) -> SplitSettings:
        data = self.values["data"]
        return SplitSettings(
            self.values["seed"], data["fraction"], data["val_fraction"], data["test_fraction"]
        )

    def register(self) -> RegisterSettings:
        sweep = self.values["sweep"]
        return RegisterSettings(
            seed=self.values["seed"],
            sweep_file=sweep["file"],
            controller=sweep["controller"],
            store=sweep["store"],
            single_node=sweep["single_node"],
            parallelism=sweep["parallelism"],
            function=sweep["function"],
            run_timeout=sweep["run_timeout"],
            project=sweep["project"],
            entity=sweep["entity"],
            train=dict(self.values["train"]),
            wandb_mode=self.values["wandb"]["mode"],
            config_file=self.where("sweep", "controller"),
            train_source=self.where("train"),
        )

    def agent(self) -> AgentSettings:
        agents, sweep = self.values["agents"], self.values["sweep"]
        return AgentSettings(
            runs=agents["runs"],
            device=agents["device"],
            threads=agents["threads"],
            per_gpu=agents["per_gpu"],
            wandb_mode=self.values["wandb"]["mode"],
            heartbeat_timeout=sweep["heartbeat_timeout"],
            max_attempts=sweep["max_attempts"],
            config_file=self.where("agents", "device"),
            workdir=agents["workdir"],
        )
