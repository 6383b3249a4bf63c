"""The local controller as the tests drive it: with the config schema's defaults for its limits
(the one definition of the default parallelism, heartbeat timeout and attempts), and `claim`,
the next config or None when there is none now."""

from __future__ import annotations

import dataclasses
import time

from snakesweep.settings import Config
from snakesweep.sweep.controller import Claim, LocalController
from snakesweep.sweep.decide import Limits

_DEFAULTS = Config({})
DEFAULT_LIMITS = Limits(
    parallelism=_DEFAULTS.register().parallelism,
    heartbeat_timeout=_DEFAULTS.agent().heartbeat_timeout,
    max_attempts=_DEFAULTS.agent().max_attempts,
)
PARALLELISM = DEFAULT_LIMITS.parallelism


def limits(**changes) -> Limits:
    """The schema's default limits, with `changes` (parallelism, heartbeat_timeout,
    max_attempts)."""
    return dataclasses.replace(DEFAULT_LIMITS, **changes)


def make_controller(
    store, sweep_config: dict, seed: int = 0, clock=time.time, **changes
) -> LocalController:
    """A controller on `store` with the default limits but for `changes` (see `limits`)."""
    return LocalController(store, sweep_config, seed, limits(**changes), clock=clock)


def claim(controller: LocalController, agent: str) -> Claim | None:
    action = controller.next(agent)
    return action if isinstance(action, Claim) else None
