"""The local controller as the tests drive it: with the config schema's default parallelism
(the one definition of it), and `claim`, the next config or None when there is none now."""

from __future__ import annotations

import yaml

from snakesweep import paths
from snakesweep.sweep.controller import Claim, LocalController

_SCHEMA = yaml.safe_load((paths.CONFIG_SCHEMA).read_text())
PARALLELISM = _SCHEMA["properties"]["sweep"]["properties"]["parallelism"]["default"]


def make_controller(store, sweep_config: dict, seed: int = 0, **settings) -> LocalController:
    return LocalController(store, sweep_config, seed, **{"parallelism": PARALLELISM, **settings})


def claim(controller: LocalController, agent: str) -> Claim | None:
    action = controller.next(agent)
    return action if isinstance(action, Claim) else None
