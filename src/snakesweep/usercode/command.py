"""The argv, environment and files of one run of a user's `program`, as `wandb agent` makes them.

Read from wandb 0.31.0: `Agent._command_run` (`wandb/wandb_agent.py`), `create_sweep_command`
and `create_sweep_command_args` (`wandb/sdk/launch/sweeps/utils.py`) and
`save_config_file_from_dict` (`wandb/sdk/lib/config_util.py`). Importing those modules costs
0.6-1.4 s (they import all of `wandb`), so this module re-implements them without wandb; the
tests check the results equal wandb's own on many parameter sets.

The command (the sweep's `command:`, or `DEFAULT_COMMAND` when it is missing or empty):
1. `${envvar:NAME}` is replaced anywhere inside an element by the variable's value, or by `NAME`
   itself when it is unset. NAME must match `[A-Z0-9_]*`: a lower-case name is not expanded
   (and a whole element `${envvar:name}` is then an unknown macro, below). A value is not
   expanded again. Elements that are not strings (`3`, `true` in YAML) become `str()`.
2. Then an element that starts with `${` and ends with `}` is a macro and is replaced by zero or
   more arguments; an unknown one (`${batch_size}`, and also `${a}_${b}`, whose "name" is
   `a}_${b`) vanishes. Every other element, `--bs=${batch_size}` included, passes literally.
3. The macros, for params `{name: {"value": v}}` and each parameter in order:
   `${args}` `--name=v`; `${args_no_hyphens}` `name=v`; `${args_append_hydra}` `+name=v`;
   `${args_override_hydra}` `++name=v`; `${args_no_equals}` two arguments `--name`, `v`;
   `${args_no_boolean_flags}` `--name` for True, nothing for False, `--name=v` otherwise;
   `${args_json}` one argument, `json.dumps({name: v})`; `${args_json_file}` the path of a file
   holding that same JSON (no trailing newline), written only when the command has that macro;
   `${args_dict}` the parameter names (an accident of `list += dict` in wandb, kept);
   `${interpreter}` `python`; `${program}` the program; `${env}` `/usr/bin/env` (nothing on
   Windows). `v` is formatted with `f"{v}"`: `True`, `None`, `1e-05`, a nested group as a
   Python dict repr `{'a': 1}`, a list as `[1, 2]`, a string as it is.
The result is an argv list run without a shell, so `; rm -rf /`, `$(...)`, quotes, spaces and
newlines in a value reach the program as literal text.

Where we differ from wandb on purpose:
- wandb expands `${envvar:...}` from the agent's own environment before it sets this run's
  `WANDB_RUN_ID`, and in place in its stored command, so the values of its first run are frozen
  for every later run (`${envvar:WANDB_RUN_ID}` is the literal `WANDB_RUN_ID`, for ever). Here
  they come from the `environ` given at each call; pass `run_environ(...)` to get this run's.
- The files are written atomically (whole or not at all), always UTF-8, and the paths are made
  absolute (wandb's are absolute too: under `WANDB_DIR`, which the agent sets to its cwd).
- W&B puts them at `<WANDB_DIR>/wandb/sweep-<sweep id>/config-<run id>.yaml` and `.json`; here
  the caller names the param file and the JSON file is the same path with suffix `.json`.

`wandb.init()` in the program, offline and without `WANDB_SWEEP_ID` (checked on 0.31.0 by
tests/unit/usercode/test_command.py, which runs a real program):
- It reads `WANDB_SWEEP_PARAM_PATH` whether or not `WANDB_SWEEP_ID` is set: the setting
  `sweep_param_path` comes from the environment on its own and `wandb.init` merges that file into
  `wandb.config` as user "sweep", as under the agent. No other variable is needed.
- The file's values override the program's `wandb.init(config={...})` defaults; a nested group
  is merged key by key (the program's other keys in it stay); those keys are locked, so a later
  `wandb.config.update` of them is ignored with a warning. New keys can still be added.
- `WANDB_RUN_ID` becomes the run id, unless the program passes its own `id=` (which only a
  sweep id would override).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from typing import Any

from snakesweep.atomic import atomic_write

DEFAULT_COMMAND = ["${env}", "${interpreter}", "${program}", "${args}"]

Params = Mapping[str, Any]  # {name: {"value": v}}, W&B's run-config form
StrPath = str | os.PathLike
Env = Mapping[str, str]

# The environment variables, as in wandb.env.
RUN_ID = "WANDB_RUN_ID"
SWEEP_PARAM_PATH = "WANDB_SWEEP_PARAM_PATH"
SWEEP_ID = "WANDB_SWEEP_ID"
SERVICE = "WANDB_SERVICE"

# wandb.sdk.launch.sweeps.utils.SWEEP_COMMAND_ENV_VAR_REGEX
_ENVVAR = re.compile(r"\$\{envvar\:([A-Z0-9_]*)\}")


def command_template(command: list | None, environ: Env) -> list[str]:
    """The command (or the default) as strings, with `${envvar:NAME}` filled in from `environ`."""
    if command is not None and not isinstance(command, list):
        raise TypeError(f"command must be a list of strings, not {type(command).__name__}")
    return [
        _ENVVAR.sub(lambda match: environ.get(match.group(1), match.group(1)), str(element))
        for element in command or DEFAULT_COMMAND
    ]


def _values(params: Params) -> dict[str, Any]:
    values = {}
    for name, config in params.items():
        if not isinstance(config, Mapping) or "value" not in config:
            raise ValueError(f'No "value" found for parameter {name!r}: {config!r}')
        values[name] = config["value"]
    return values


def macro_args(params: Params) -> dict[str, list[str]]:
    """The parameters' argument forms, by macro name, as `create_sweep_command_args` makes them."""
    forms: dict[str, list[str]] = {
        name: []
        for name in (
            "args",
            "args_no_equals",
            "args_no_hyphens",
            "args_no_boolean_flags",
            "args_append_hydra",
            "args_override_hydra",
        )
    }
    values = _values(params)
    for name, value in values.items():
        flag = f"{name}={value}"
        forms["args"].append("--" + flag)
        forms["args_no_hyphens"].append(flag)
        forms["args_no_equals"] += [f"--{name}", str(value)]
        forms["args_append_hydra"].append("+" + flag)
        forms["args_override_hydra"].append("++" + flag)
        if not isinstance(value, bool):
            forms["args_no_boolean_flags"].append("--" + flag)
        elif value:
            forms["args_no_boolean_flags"].append(f"--{name}")
    forms["args_json"] = [json.dumps(values)]
    forms["args_dict"] = [str(name) for name in values]
    return forms


def args_json_path(param_file: StrPath) -> str:
    """Where `${args_json_file}` points: the param file's path with suffix `.json`, absolute."""
    stem, suffix = os.path.splitext(os.path.abspath(param_file))
    if suffix == ".json":
        raise ValueError(
            f"the param file {param_file} must not end in .json: that name is the JSON file's"
        )
    return stem + ".json"


def run_argv(
    command: list | None, program: str, params: Params, param_file: StrPath, environ: Env
) -> list[str]:
    """The argv of one run of `program` with `params` (`{name: {"value": v}}`), as `wandb agent`
    builds it from the sweep's `command` (None or [] for the default)."""
    macros = macro_args(params)
    macros.update(
        interpreter=["python"], program=[program], args_json_file=[args_json_path(param_file)]
    )
    if sys.platform != "win32":
        macros["env"] = ["/usr/bin/env"]
    argv: list[str] = []
    for element in command_template(command, environ):
        if element.startswith("${") and element.endswith("}"):
            argv += macros.get(element[2:-1], [])
        else:
            argv.append(element)
    for arg in argv:
        if "\0" in arg:
            raise ValueError(f"argument {arg!r} holds a NUL byte, which no program can be passed")
    return argv


def write_param_file(path: StrPath, params: Params) -> None:
    """Write the YAML file `WANDB_SWEEP_PARAM_PATH` names, byte for byte as wandb's
    `save_config_file_from_dict` does (no trailing newline when `params` is empty)."""
    import yaml

    data = b"wandb_version: 1"
    if params:
        data += b"\n\n" + yaml.dump(
            dict(params),
            Dumper=yaml.SafeDumper,
            default_flow_style=False,
            allow_unicode=True,
            encoding="utf-8",
            sort_keys=False,
        )
    with atomic_write(path, "wb") as handle:
        handle.write(data)


def write_args_json(path: StrPath, params: Params) -> None:
    """Write the `${args_json_file}` file: the `${args_json}` argument, no trailing newline."""
    with atomic_write(path, "wb") as handle:
        handle.write(macro_args(params)["args_json"][0].encode())


def run_environ(environ: Env, run_id: str, param_file: StrPath) -> dict[str, str]:
    """The program's environment: `environ` with this run's `WANDB_RUN_ID` and
    `WANDB_SWEEP_PARAM_PATH`, without `WANDB_SERVICE` (wandb drops it too, so the program starts
    its own wandb service) and without `WANDB_SWEEP_ID` (offline, a run naming a sweep the server
    does not know fails to sync)."""
    env = dict(environ)
    env.pop(SERVICE, None)
    env.pop(SWEEP_ID, None)
    env[RUN_ID] = run_id
    env[SWEEP_PARAM_PATH] = os.path.abspath(param_file)
    return env


def prepare_run(
    command: list | None, program: str, params: Params, param_file: StrPath, environ: Env
) -> list[str]:
    """Write the param file (and the JSON file when the command uses `${args_json_file}`, as
    wandb does) and return the run's argv."""
    argv = run_argv(command, program, params, param_file, environ)  # first: it checks the input
    write_param_file(param_file, params)
    if "${args_json_file}" in command_template(command, environ):
        write_args_json(args_json_path(param_file), params)
    return argv
