"""Read a W&B sweep file and reject, before any agent runs, what would fail hours later.

The file is the standard W&B sweep format and is validated by W&B's own engine (`sweeps`), whose
messages are already clear; we only add the file name. On top of that we check what the engine
cannot know: that every swept parameter is one the objective has, and that the metric is one
it logs (a typo in either would otherwise surface only after the first run). What the objective
has and logs is given by the caller, so the spec knows nothing of any particular trainer.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from snakesweep.config_errors import yaml_error
from snakesweep.errors import UserError
from snakesweep.sweep.custom import is_custom, load_scheduler
from snakesweep.sweep.metric import engine_metric


@dataclasses.dataclass(frozen=True)
class Checks:
    """What the sweep file is checked against beyond W&B's own validation: the objective's
    parameters, the metrics it logs, and those it logs every epoch (hyperband needs one).
    None: anything goes."""

    parameters: tuple[str, ...] | None = None
    metrics: tuple[str, ...] | None = None
    epoch_metrics: tuple[str, ...] | None = None


def load_sweep_file(path: str | Path, checks: Checks = Checks()) -> dict:
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: sweep file not found (config key sweep.file)")
    if problem := yaml_error(path):
        raise UserError(problem)
    config = yaml.safe_load(path.read_text())
    if not isinstance(config, dict):
        raise UserError(
            f"{path}: a sweep file must be a mapping with method, metric and parameters"
        )
    return validate_sweep(config, str(path), checks)


def validate_sweep(config: Mapping[str, Any], source: str, checks: Checks = Checks()) -> dict:
    """The engine's own validation (schema, distributions, bounds), then `checks`; returns the
    config as plain JSON data."""
    from sweeps.config import schema_violations_from_proposed_config

    from snakesweep.sweep.engine import next_run, to_plain

    plain = to_plain(dict(config))
    if (plain.get("scheduler") or {}).get("engine") in ("wandb", "ax"):
        load_scheduler(plain, source)  # refuses them with one line naming the field
    violations = schema_violations_from_proposed_config(plain)
    if violations:
        raise UserError(f"{source}: " + "; ".join(dict.fromkeys(violations)))
    if is_custom(plain):
        load_scheduler(plain, source)  # W&B's own loading and checks, and a dry study
        check_objective(plain, source, checks)
        return plain
    try:
        # A dry suggestion runs each method's own checks (grid over a continuous range, bayes
        # without a metric) that the schema does not express. The engine's SweepConfig filler
        # is not used: in sweeps 0.3.0 it drops nested parameter groups.
        next_run(plain, [])
    except Exception as err:  # the engine raises ValueError, ValidationError, KeyError, ...
        raise UserError(f"{source}: {err}") from None
    check_objective(plain, source, checks)
    return plain


def check_objective(plain: dict, source: str, checks: Checks) -> None:
    flat = flatten_parameter_names(plain.get("parameters", {}))
    if checks.parameters is not None:
        unknown = sorted(set(flat) - set(checks.parameters))
        if unknown:
            raise UserError(
                f"{source}: parameters.{flat[unknown[0]]}: the trainer has no parameter "
                f"{unknown[0]!r} "
                f"(known: {', '.join(checks.parameters)})"
            )
    metric = engine_metric(plain)
    if metric is not None and checks.metrics is not None and metric not in checks.metrics:
        raise UserError(
            f"{source}: metric.name: the trainer never logs {metric!r} (it logs: "
            f"{', '.join(checks.metrics)})"
        )
    if (
        "early_terminate" in plain
        and checks.epoch_metrics is not None
        and metric not in checks.epoch_metrics
    ):
        raise UserError(
            f"{source}: early_terminate needs a metric logged every epoch, one of "
            f"{', '.join(checks.epoch_metrics)}"
        )


def flatten_parameter_names(parameters: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Objective key -> its path in the sweep file. Nested `parameters` only group keys."""
    names: dict[str, str] = {}
    for key, spec in parameters.items():
        path = f"{prefix}{key}"
        if _is_group(spec):
            names.update(flatten_parameter_names(spec["parameters"], prefix=f"{path}.parameters."))
        else:
            names[key] = path
    return names


def run_config(parameters: Mapping[str, Any], engine_config: Mapping[str, Any]) -> dict[str, Any]:
    """A suggestion in the engine's form (`{name: {"value": v}}`) as the objective's flat keys:
    a nested group (a parameter with `parameters` of its own) only groups its keys."""
    return _flatten(parameters, {name: spec["value"] for name, spec in engine_config.items()})


def _flatten(parameters: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        spec = parameters.get(key)
        if _is_group(spec) and isinstance(value, Mapping):
            flat.update(_flatten(spec["parameters"], value))
        else:
            flat[key] = value
    return flat


def _is_group(spec: Any) -> bool:
    return isinstance(spec, Mapping) and "parameters" in spec


def sweep_hash(config: Mapping[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
