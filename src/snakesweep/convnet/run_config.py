"""Validate one run's hyperparameters before any work is done.

A sweep launches many runs from one config; a typo (`learnig_rate`) or a value the trainer
cannot use must stop the first of them with a message naming the key, not train with a silent
default or crash minutes later. The resolved config (defaults filled in, values normalised) is
also what the per-run seed is derived from, so `{}` and a config that spells out every default
are the same run.

The hyperparameters are defined once, in the run schema (`paths.RUN_SCHEMA`): the defaults and
the checks here are read from it with jsonschema, and Snakemake's config validation uses the
same file for `train:`. Adding one is a schema entry plus the code that uses it.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from functools import cache
from typing import Any

import jsonschema
import yaml

from snakesweep import paths
from snakesweep.errors import UserError
from snakesweep.seeding import derive_seed

SCHEMA_PATH = paths.RUN_SCHEMA


@cache
def load_schema() -> dict:
    """The run schema, read once per process."""
    return yaml.safe_load(SCHEMA_PATH.read_text())


def defaults(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Every hyperparameter with its schema default (each property must have one)."""
    return {key: copy.deepcopy(spec["default"]) for key, spec in schema["properties"].items()}


def known_parameters(schema: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """The keys a run config (and so a sweep's `parameters`) may set."""
    return tuple(sorted((schema or load_schema())["properties"]))


# JSON has no NaN or infinity, and the trainer cannot use them: a "number" must be finite.
_NUMBER = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
    "number",
    lambda checker, value: (
        isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ),
)
_Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=_NUMBER)


def resolve_run_config(
    config: Mapping[str, Any] | None,
    source: str = "run config",
    schema: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`config` checked and completed with defaults; raises UserError naming the bad key.

    `source` prefixes every message (a file name, say) so the user knows where to look.
    `schema` is the run schema unless given (a test's throw-away copy, say).
    """
    schema = schema or load_schema()
    config = {} if config is None else config
    if not isinstance(config, Mapping):
        raise UserError(
            f"{source}: expected a mapping of hyperparameters, got {type(config).__name__}"
        )
    known = known_parameters(schema)
    unknown = sorted(str(key) for key in config if key not in known)
    if unknown:
        names = ", ".join(repr(key) for key in unknown)
        raise UserError(
            f"{source}: unknown key{'s' if len(unknown) > 1 else ''} {names} (known: "
            f"{', '.join(known)})"
        )
    properties = schema["properties"]
    merged = {
        **defaults(schema),
        **{key: _coerce(value, properties[key]) for key, value in config.items()},
    }
    error = jsonschema.exceptions.best_match(_Validator(schema).iter_errors(merged))
    if error is not None:
        where = ".".join(str(part) for part in error.absolute_path)
        raise UserError(f"{source}: {where}: {error.message}")
    return merged


def run_seed(sweep_seed: int, run_config: Mapping[str, Any] | None) -> int:
    """The seed of the run with this config in a sweep seeded with `sweep_seed`.

    It depends on the resolved config, not on a run counter, so a run that is retried, or
    reached in a different order by a different agent, trains exactly as it did the first time.
    """
    return derive_seed(sweep_seed, "run", resolve_run_config(run_config))


def _coerce(value: Any, spec: Mapping[str, Any]) -> Any:
    """`value` in the one form its schema type has, when it plainly means that: PyYAML reads
    `1e-3` (no dot) as a string, a sweep's int_uniform may give 64.0, `0` is the number 0.0,
    and enum names are not case-sensitive. Anything else is left for the schema to reject."""
    kind = spec.get("type")
    if kind == "array" and isinstance(value, (list, tuple)):
        return [_coerce(item, spec.get("items", {})) for item in value]
    if isinstance(value, bool):
        return value
    if kind == "number" and isinstance(value, (str, int, float)):
        try:
            return float(value)
        except ValueError:
            return value
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind == "string" and isinstance(value, str) and value.lower() in spec.get("enum", ()):
        return value.lower()
    return value
