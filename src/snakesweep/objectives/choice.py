"""Which objective a sweep runs, decided once when it is registered and kept in its record.

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

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from snakesweep.errors import UserError

CONVNET, PROGRAM, FUNCTION = "convnet", "program", "function"
USER_CODE = (PROGRAM, FUNCTION)


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


def objective_for(
    spec: Mapping[str, Any],
    sweep_file: str | Path,
    function: str | None,
    run_timeout: float | None,
    config_file: str,
) -> dict:
    """The objective's record: its kind and what runs it. Errors name the file and the field."""
    names_program = "program" in spec or "command" in spec
    if function and names_program:
        raise UserError(
            f"{config_file}: sweep.function: the sweep file {sweep_file} names a "
            f"{'program' if 'program' in spec else 'command'} too; name your training code once"
        )
    if function:
        return {
            "kind": FUNCTION,
            "function": _function_target(function, config_file),
            "run_timeout": run_timeout,
        }
    if names_program:
        return {"kind": PROGRAM, **_program(spec, sweep_file), "run_timeout": run_timeout}
    return {"kind": CONVNET}


def _function_target(function: str, config_file: str) -> str:
    where, _, name = function.rpartition(":")
    if not where or not name.isidentifier():
        raise UserError(
            f"{config_file}: sweep.function: expected path/to/train.py:name or package.module:name, got {function!r}"
        )
    if where.endswith(".py") and not Path(where).is_file():
        raise UserError(
            f"{config_file}: sweep.function: {where} not found (relative to {Path.cwd()})"
        )
    return function


def _program(spec: Mapping[str, Any], sweep_file: str | Path) -> dict:
    """The program's path as the working directory sees it, and the command W&B would run."""
    command = spec.get("command")
    program = spec.get("program")
    if program is None:
        if any("${program}" in str(part) for part in command):
            raise UserError(
                f"{sweep_file}: command: uses ${{program}}, but the sweep file names no program"
            )
        return {"program": None, "command": list(command)}
    path = Path(sweep_file).parent / str(program)
    if not path.is_file():
        raise UserError(
            f"{sweep_file}: program: {path} not found (a program is found relative to the sweep file)"
        )
    return {"program": str(path), "command": list(command) if command is not None else None}
