"""The sweep record, `results/sweep/sweep.json`: what a registered sweep is, fixed once.

Registration writes it; the agents, the aggregate, `status`, `verify` and `retry` read it. It
names the sweep (its id and name), what decides its runs (the sweep file's config, the seed,
the declared parallelism, the ConvNet's resolved defaults), the objective its runs train, how
runs are ranked, where they are logged, and where its event log is. The file's bytes are
canonical JSON (`atomic.write_json`): the same sweep, the same bytes.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from snakesweep.atomic import write_json
from snakesweep.errors import UserError

# What a sweep's runs train: the built-in ConvNet, or the user's own program or function.
CONVNET, PROGRAM, FUNCTION = "convnet", "program", "function"
USER_CODE = (PROGRAM, FUNCTION)

FROM_SWEEP, FROM_OBJECTIVE = "sweep", "objective"  # where a ranking's metric comes from


@dataclasses.dataclass(frozen=True)
class Ranking:
    """What runs are ranked by. `source` says whose metric it is: the sweep file's, or (when the
    file names none) the objective's own."""

    name: str
    goal: str  # maximize or minimize
    source: str  # FROM_SWEEP or FROM_OBJECTIVE

    def qualifier(self) -> str:
        """The goal, and why this metric when the sweep file names none."""
        if self.source == FROM_SWEEP:
            return self.goal
        return f"{self.goal}; the sweep file names no metric, so the objective's own"

    def describe(self) -> str:
        """How runs were ranked, in words, for the summary, the model card and `status`."""
        return f"{self.name} ({self.qualifier()})"


@dataclasses.dataclass(frozen=True)
class Objective:
    """What each run trains. `program` (a path) and `command` (W&B's `command:` list, or None
    for W&B's default) for a program; `function` (`path/train.py:name` or `module:name`) for a
    function; `run_timeout` (seconds, or None) for both."""

    kind: str
    program: str | None = None
    command: list | None = None
    function: str | None = None
    run_timeout: float | None = None

    @property
    def user_code(self) -> bool:
        return self.kind in USER_CODE

    def to_json(self) -> dict:
        if self.kind == PROGRAM:
            return {
                "kind": PROGRAM,
                "program": self.program,
                "command": self.command,
                "run_timeout": self.run_timeout,
            }
        if self.kind == FUNCTION:
            return {"kind": FUNCTION, "function": self.function, "run_timeout": self.run_timeout}
        return {"kind": self.kind}


@dataclasses.dataclass(frozen=True)
class SweepRecord:
    controller: str  # local (snakesweep's controller) or wandb (the W&B server)
    sweep_id: str
    name: str
    file: str  # the sweep file it was registered from
    config: dict  # the sweep file's config, as W&B's engine validated it
    hash: str  # of everything that decides the runs' results: the sweep's identity
    seed: int
    parallelism: int
    objective: Objective
    ranking: Ranking | None  # None: nothing is ranked (no metric anywhere)
    train: dict  # the ConvNet's resolved defaults ({} for the user's code)
    project: str
    entity: str | None
    store: str  # the sweep's event log
    path: str | None = None  # entity/project/id on the W&B server (controller wandb)
    url: str | None = None

    @property
    def method(self) -> str:
        return self.config["method"]

    def to_json(self) -> dict:
        data = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        data["objective"] = self.objective.to_json()
        data["ranking"] = dataclasses.asdict(self.ranking) if self.ranking else None
        for optional in ("path", "url"):
            if data[optional] is None:
                del data[optional]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SweepRecord:
        fields = {field.name for field in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in fields}
        values["objective"] = Objective(**data["objective"])
        values["ranking"] = Ranking(**data["ranking"]) if data["ranking"] else None
        return cls(**values)

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> SweepRecord:
        """The record at `path`; one clear line if it is missing or cannot be read."""
        try:
            return cls.from_json(json.loads(Path(path).read_text()))
        except FileNotFoundError:
            raise UserError(
                f"{path}: no sweep here yet: start one with snakemake, "
                "or point --results at its results folder"
            ) from None
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise UserError(f"{path}: cannot read the sweep record ({err!r})") from None
