"""Validate one run's hyperparameters before any work is done.

A sweep launches many runs from one config; a typo (`learnig_rate`) or a value the trainer
cannot use must stop the first of them with a message naming the key, not train with a silent
default or crash minutes later. The resolved config (defaults filled in, values normalised) is
also what the per-run seed is derived from, so `{}` and a config that spells out every default
are the same run.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from snakesweep.errors import UserError
from snakesweep.seeding import derive_seed

OPTIMIZERS = ("adam", "sgd", "rmsprop")

# Every key a run config may hold, with its default. The defaults are the W&B PyTorch intro's
# (Adam, lr 0.005, batch 128, 5 epochs, kernels 16/32); momentum is PyTorch's default of 0 and
# is ignored by Adam, so a sweep may vary optimizer and momentum together.
DEFAULTS: dict[str, Any] = {
    "learning_rate": 0.005,
    "batch_size": 128,
    "epochs": 5,
    "optimizer": "adam",
    "momentum": 0.0,
    "weight_decay": 0.0,
    "kernels": [16, 32],
    "dropout": 0.0,
    "fc_hidden": 0,
}


def known_parameters() -> tuple[str, ...]:
    """The keys a run config (and so a sweep's `parameters`) may set."""
    return tuple(sorted(DEFAULTS))


def resolve_run_config(config: Mapping[str, Any] | None, source: str = "run config") -> dict[str, Any]:
    """`config` checked and completed with defaults; raises UserError naming the bad key.

    `source` prefixes every message (a file name, say) so the user knows where to look.
    """
    config = {} if config is None else config
    if not isinstance(config, Mapping):
        raise UserError(f"{source}: expected a mapping of hyperparameters, got {type(config).__name__}")
    unknown = sorted(str(key) for key in config if key not in DEFAULTS)
    if unknown:
        names = ", ".join(repr(key) for key in unknown)
        raise UserError(f"{source}: unknown key{'s' if len(unknown) > 1 else ''} {names} (known: {', '.join(known_parameters())})")
    merged = {**DEFAULTS, **config}

    def fail(key: str, requirement: str) -> UserError:
        return UserError(f"{source}: {key} must be {requirement}, got {merged[key]!r}")

    resolved: dict[str, Any] = {}
    resolved["learning_rate"] = _number(merged, "learning_rate", fail)
    if not resolved["learning_rate"] > 0:
        raise fail("learning_rate", "> 0")
    for key in ("batch_size", "epochs"):
        resolved[key] = _integer(merged, key, fail, minimum=1)
    optimizer = merged["optimizer"]
    if not isinstance(optimizer, str) or optimizer.lower() not in OPTIMIZERS:
        raise fail("optimizer", f"one of {', '.join(OPTIMIZERS)}")
    resolved["optimizer"] = optimizer.lower()
    resolved["momentum"] = _number(merged, "momentum", fail)
    if not 0 <= resolved["momentum"] < 1:
        raise fail("momentum", "in [0, 1)")
    resolved["weight_decay"] = _number(merged, "weight_decay", fail)
    if not resolved["weight_decay"] >= 0:
        raise fail("weight_decay", ">= 0")
    kernels = merged["kernels"]
    if (
        not isinstance(kernels, (list, tuple))
        or len(kernels) != 2
        or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in kernels)
    ):
        raise fail("kernels", "a list of 2 integers >= 1")
    resolved["kernels"] = [int(k) for k in kernels]
    resolved["dropout"] = _number(merged, "dropout", fail)
    if not 0 <= resolved["dropout"] < 1:
        raise fail("dropout", "in [0, 1)")
    resolved["fc_hidden"] = _integer(merged, "fc_hidden", fail, minimum=0)
    return resolved


def run_seed(sweep_seed: int, run_config: Mapping[str, Any] | None) -> int:
    """The seed of the run with this config in a sweep seeded with `sweep_seed`.

    It depends on the resolved config, not on a run counter, so a run that is retried, or
    reached in a different order by a different agent, trains exactly as it did the first time.
    """
    return derive_seed(sweep_seed, "run", resolve_run_config(run_config))


def _number(config: Mapping[str, Any], key: str, fail) -> float:
    value = config[key]
    if isinstance(value, str):
        # PyYAML reads `1e-3` (no dot) as a string; accept what is plainly a number.
        try:
            value = float(value)
        except ValueError:
            raise fail(key, "a number") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise fail(key, "a finite number")
    return float(value)


def _integer(config: Mapping[str, Any], key: str, fail, minimum: int) -> int:
    value = config[key]
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a sweep's int_uniform may arrive as 64.0
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(key, "an integer")
    if value < minimum:
        raise fail(key, f">= {minimum}")
    return value
