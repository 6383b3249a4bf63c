"""Read a W&B sweep file and reject, before any agent runs, what would fail hours later.

The file is the standard W&B sweep format and is validated by W&B's own engine (`sweeps`), whose
messages are already clear; we only add the file name. On top of that we check what the engine
cannot know: that every swept parameter is one the trainer has, and that the metric is one it
logs (a typo in either would otherwise surface only after the first run).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

import yaml

from snakesweep.config_errors import yaml_error
from snakesweep.errors import UserError
from snakesweep.train.run_config import known_parameters

# What the trainer logs: per epoch (usable by hyperband) and once at the end.
EPOCH_METRICS = ("train_loss", "val_loss", "val_accuracy")
FINAL_METRICS = ("test_loss", "test_accuracy")
METRICS = EPOCH_METRICS + FINAL_METRICS


def load_sweep_file(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: sweep file not found (config key sweep.file)")
    if problem := yaml_error(path):
        raise UserError(problem)
    config = yaml.safe_load(path.read_text())
    if not isinstance(config, dict):
        raise UserError(f"{path}: a sweep file must be a mapping with method, metric and parameters")
    return validate_sweep(config, str(path))


def validate_sweep(config: Mapping[str, Any], source: str) -> dict:
    """The engine's own validation (schema, distributions, bounds), then ours; returns the
    config as plain JSON data."""
    from sweeps.config import schema_violations_from_proposed_config

    from snakesweep.sweep.engine import next_run

    plain = to_plain(dict(config))
    violations = schema_violations_from_proposed_config(plain)
    if violations:
        raise UserError(f"{source}: " + "; ".join(dict.fromkeys(violations)))
    try:
        # A dry suggestion runs each method's own checks (grid over a continuous range, bayes
        # without a metric) that the schema does not express. The engine's SweepConfig filler
        # is not used: in sweeps 0.3.0 it drops nested parameter groups.
        next_run(plain, [])
    except Exception as err:  # the engine raises ValueError, ValidationError, KeyError, ...
        raise UserError(f"{source}: {err}") from None
    flat = flatten_parameter_names(plain["parameters"])
    unknown = sorted(set(flat) - set(known_parameters()))
    if unknown:
        raise UserError(
            f"{source}: parameters.{flat[unknown[0]]}: the trainer has no parameter {unknown[0]!r} "
            f"(known: {', '.join(known_parameters())})"
        )
    metric = plain.get("metric", {}).get("name")
    if metric is not None and metric not in METRICS:
        raise UserError(f"{source}: metric.name: the trainer never logs {metric!r} (it logs: {', '.join(METRICS)})")
    if "early_terminate" in plain and metric not in EPOCH_METRICS:
        raise UserError(
            f"{source}: early_terminate needs a metric logged every epoch, one of {', '.join(EPOCH_METRICS)}"
        )
    return plain


# W&B's default goal for a sweep metric that names none (its schema's default).
DEFAULT_GOAL = "minimize"
# A sweep without a metric (random search needs none) is still ranked: by validation accuracy.
UNSPECIFIED_METRIC = {"name": "val_accuracy", "goal": "maximize"}


def sweep_metric(sweep_config: Mapping[str, Any]) -> dict:
    """The metric runs are ranked by: {"name", "goal"}, with W&B's defaults."""
    if "metric" not in sweep_config:
        return dict(UNSPECIFIED_METRIC)
    metric = sweep_config["metric"]
    return {"name": metric["name"], "goal": metric.get("goal", DEFAULT_GOAL)}


def flatten_parameter_names(parameters: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Trainer key -> its path in the sweep file. Nested `parameters` only group keys."""
    names: dict[str, str] = {}
    for key, spec in parameters.items():
        path = f"{prefix}{key}"
        if isinstance(spec, Mapping) and "parameters" in spec:
            names.update(flatten_parameter_names(spec["parameters"], prefix=f"{path}.parameters."))
        else:
            names[key] = path
    return names


def flatten_run_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A suggested config (nested groups allowed) as the trainer's flat keys."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping) and key not in known_parameters():
            flat.update(flatten_run_config(value))
        else:
            flat[key] = value
    return flat


def sweep_hash(config: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def to_plain(value):
    """`value` as plain JSON data: numpy scalars (the engine returns some, e.g. q_uniform's
    np.float64) become Python numbers, so configs dump to YAML and JSON unchanged."""

    def scalar(v):
        if hasattr(v, "item"):
            return v.item()
        raise TypeError(f"cannot serialise {type(v).__name__}")

    return json.loads(json.dumps(value, default=scalar))
