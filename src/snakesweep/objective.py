"""Which objective a sweep's runs train, picked once, when the sweep is registered: the switch
between the built-in ConvNet (`snakesweep.convnet`) and the user's own code
(`snakesweep.usercode`). The deciding layer below (`snakesweep.sweep`) knows neither: it is
told what an objective has and logs as data (`ObjectiveInfo`).

- `program`: the sweep file names a `program` (or a `command`), as for W&B's command-line agent
  (`wandb agent`): each run is that program in a process of its own.
- `function`: the config's `sweep.function` names a callable, as `wandb.agent(sweep_id,
  function=train)` is given one: each run calls it in a process of its own.
- `convnet`: neither: the built-in ConvNet of the W&B PyTorch intro.

A sweep file can say nothing about a function (W&B's sweep schema has no such key), so the
function is named in the config, and naming both is an error. `program` is found relative to
the sweep file's folder, as `wandb agent` run in that folder would find it; `function` is
`path/to/train.py:name` (relative to the working directory) or `package.module:name`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from snakesweep.convnet import objective as convnet
from snakesweep.convnet.run_config import known_parameters
from snakesweep.data.dataset import DataFiles
from snakesweep.errors import UserError
from snakesweep.record.sweep_record import (
    CONVNET,
    FUNCTION,
    PROGRAM,
    Objective,
    SweepRecord,
)
from snakesweep.settings import AgentSettings, RegisterSettings
from snakesweep.sweep.metric import engine_metric
from snakesweep.sweep.register import ObjectiveInfo, register_sweep
from snakesweep.sweep.spec import Checks, load_sweep_file

DATA_ALWAYS = "always"  # data.prepare: the data stage runs for the user's code too


def objective_kind(sweep_file: str | Path, function: str | None) -> str:
    """The kind alone, for the workflow's rules (before the sweep is registered): a sweep file
    that cannot be read is left to registration to report, as the ConvNet's."""
    if function:
        return FUNCTION
    try:
        spec = yaml.safe_load(Path(sweep_file).read_text())
    except (OSError, yaml.YAMLError):
        return CONVNET
    return (
        PROGRAM if isinstance(spec, dict) and ("program" in spec or "command" in spec) else CONVNET
    )


def needs_data(kind: str, prepare: str) -> bool:
    """Whether the data stage runs: the ConvNet trains on its MNIST splits; the user's code
    reads its own data, unless the config asks for the splits too (`data.prepare: always`)."""
    return kind == CONVNET or prepare == DATA_ALWAYS


def register(
    settings: RegisterSettings,
    data: DataFiles | None,
    out_path: str | Path,
    retries_out: str | Path,
) -> SweepRecord:
    """Register the sweep of `settings.sweep_file` with its objective (see `register_sweep`)."""
    spec = load_sweep_file(settings.sweep_file)
    return register_sweep(settings, spec, describe(spec, settings), data, out_path, retries_out)


def describe(spec: Mapping[str, Any], settings: RegisterSettings) -> ObjectiveInfo:
    """What registration needs to know of the sweep's objective."""
    objective = objective_for(spec, settings)
    if objective.user_code:
        check_user_code_settings(settings)
        return ObjectiveInfo(objective, checks=None, default_ranking=None, train={})
    train = convnet.resolved_defaults(settings.train, settings.train_source)
    return ObjectiveInfo(objective, convnet_checks(), convnet.DEFAULT_RANKING, train)


def convnet_checks() -> Checks:
    """What a sweep file of the ConvNet is checked against: its parameters and metrics."""
    return Checks(known_parameters(), convnet.METRICS, convnet.EPOCH_METRICS)


@contextlib.contextmanager
def runs(
    sweep: SweepRecord, settings: AgentSettings, data: DataFiles | None, device: str
) -> Iterator:
    """The sweep's objective as the agent loop sees it, a `train_one(claim, on_epoch)`."""
    if not sweep.objective.user_code:
        yield convnet.make_train_one(sweep, settings, data, device)
        return
    from snakesweep.usercode.runner import Metrics, user_code_runs

    engine, ranking = engine_metric(sweep.config), sweep.ranking
    metrics = Metrics(engine, engine or (ranking.name if ranking else None))
    with user_code_runs(sweep, metrics, settings, data, device) as train_one:
        yield train_one


def objective_for(spec: Mapping[str, Any], settings: RegisterSettings) -> Objective:
    """The objective's record: its kind and what runs it. Errors name the file and the field."""
    function, sweep_file, config_file = settings.function, settings.sweep_file, settings.config_file
    names_program = "program" in spec or "command" in spec
    if function and names_program:
        raise UserError(
            f"{config_file}: sweep.function: the sweep file {sweep_file} names a "
            f"{'program' if 'program' in spec else 'command'} too; name your training code once"
        )
    if function:
        target = _function_target(function, config_file)
        return Objective(FUNCTION, function=target, run_timeout=settings.run_timeout)
    if names_program:
        program, command = _program(spec, sweep_file)
        return Objective(PROGRAM, program, command, run_timeout=settings.run_timeout)
    return Objective(CONVNET)


def check_user_code_settings(settings: RegisterSettings) -> None:
    """The user's code reports through its own `wandb.log`: that needs a W&B run (not
    `disabled`), and snakesweep's controller, which reads what the run logs as it goes."""
    if settings.controller != "local":
        raise UserError(
            f"{settings.config_file}: sweep.controller: your own training code runs under the "
            f"local controller only, not {settings.controller!r} (W&B's own `wandb agent` runs "
            "it under the W&B server)"
        )
    if settings.wandb_mode == "disabled":
        raise UserError(
            f"{settings.config_file}: wandb.mode: your own training code reports its metrics "
            "with wandb.log, which wandb.mode: disabled turns off; use offline (the default) "
            "or online"
        )


def _function_target(function: str, config_file: str) -> str:
    where, _, name = function.rpartition(":")
    if not where or not name.isidentifier():
        raise UserError(
            f"{config_file}: sweep.function: expected path/to/train.py:name or "
            f"package.module:name, got {function!r}"
        )
    if where.endswith(".py") and not Path(where).is_file():
        raise UserError(
            f"{config_file}: sweep.function: {where} not found (relative to {Path.cwd()})"
        )
    return function


def _program(spec: Mapping[str, Any], sweep_file: str | Path) -> tuple[str | None, list | None]:
    """The program's path as the working directory sees it, and the command W&B would run."""
    command = spec.get("command")
    program = spec.get("program")
    if program is None:
        if any("${program}" in str(part) for part in command):
            raise UserError(
                f"{sweep_file}: command: uses ${{program}}, but the sweep file names no program"
            )
        return None, list(command)
    path = Path(sweep_file).parent / str(program)
    if not path.is_file():
        raise UserError(
            f"{sweep_file}: program: {path} not found (a program is found relative to the sweep "
            "file)"
        )
    return str(path), list(command) if command is not None else None
