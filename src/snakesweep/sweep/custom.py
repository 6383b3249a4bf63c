"""W&B's `method: custom` with `scheduler: {engine: optuna, ...}`, read as wandb 0.31 reads it.

The sweep file names a Python `source`, and in it an `optimizer` (a factory that takes W&B's
`SweepInfo` and returns an `optuna.Study`, or a `(Study, terminator)` pair) and/or a
`search_space` (a define-by-run function of an `optuna.Trial` that returns the run's config).
Without `search_space` the declarative `parameters` are the space, converted by W&B's own
`sweep_parameter_to_distribution`; without `optimizer`, the study is the one W&B creates (the
sweep's directions, Optuna's default sampler, a `NopPruner`). Loading, type checks and the
check of the study's directions against `metric`/`metrics` are W&B's own functions
(`wandb.sdk.sweeps.scheduler`): we only add the sweep file's name and the field.

The study the factory returns is used for its sampler, pruner and directions only: every
decision runs on a fresh in-memory study (`snakesweep.sweep.optuna_engine`) with the fixed name
`STUDY_NAME` (Optuna's Hyperband picks a trial's bracket from the study's name). Each call of
the factory runs with Python's and numpy's global RNGs seeded from the sweep seed and the
call's purpose, and every unseeded Optuna RNG in the sampler it returns (a `LazyRandomState`
that the user left without a seed) is then seeded from the sweep seed and its attribute path:
an unseeded sampler becomes a sampler seeded by the sweep, and a seeded one is left as the user
seeded it (so its suggestions are Optuna's own, see `docs/custom.md`).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from snakesweep.errors import UserError
from snakesweep.seeding import derive_seed

STUDY_NAME = "snakesweep"  # every decision's study: Hyperband's brackets hash the name
ENGINES = ("optuna",)  # what the local controller runs for `method: custom`


def is_custom(sweep_config: Mapping[str, Any]) -> bool:
    return sweep_config.get("method") == "custom"


def metric_names(sweep_config: Mapping[str, Any]) -> list[str]:
    """The objectives in order: `metrics` (multi-objective), else `metric`, else none."""
    metrics = sweep_config.get("metrics") or (
        [sweep_config["metric"]] if sweep_config.get("metric") else []
    )
    return [m["name"] for m in metrics]


@dataclasses.dataclass
class Scheduler:
    """The user's scheduler, loaded once: makes studies and asks them for a config."""

    sweep_config: dict
    factory: Callable[[], Any]  # returns the user's Study (or W&B's default one)
    search_space: Callable[[Any], Mapping[str, Any]] | None
    distributions: dict | None

    def new_study(self, sweep_seed: int, purpose: str):
        """A fresh in-memory study with the user's sampler and pruner, seeded as the module
        docstring says; and its terminator (or None)."""
        import optuna

        random.seed(derive_seed(sweep_seed, "optuna", purpose))
        np.random.seed(derive_seed(sweep_seed, "optuna", purpose) % (1 << 32))
        user_study, terminator = _unpack(self.factory())
        seed_unseeded(user_study.sampler, derive_seed(sweep_seed, "optuna", "sampler"))
        study = optuna.create_study(
            storage=optuna.storages.InMemoryStorage(),
            sampler=user_study.sampler,
            pruner=user_study.pruner,
            directions=[d.name.lower() for d in user_study.directions],
            study_name=STUDY_NAME,
        )
        return study, terminator

    def ask(self, study) -> tuple[Any, dict]:
        """One trial and the run config it stands for, as W&B's optimizers ask."""
        if self.search_space is not None:
            trial = study.ask()
            return trial, dict(self.search_space(trial))
        trial = study.ask(self.distributions)
        return trial, dict(trial.params)


def seed_unseeded(obj: Any, seed: int, path: str = "sampler", seen: set | None = None) -> None:
    """Seed every Optuna `LazyRandomState` under `obj` that its maker left unseeded (it has
    drawn nothing yet and would seed itself from the OS), each from `seed` and its path."""
    from optuna.samplers._lazy_random_state import LazyRandomState

    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, LazyRandomState):
        if obj._rng is None:
            obj._rng = np.random.RandomState(derive_seed(seed, path) % (1 << 32))
        return
    if type(obj).__module__.startswith("optuna") or hasattr(obj, "sample_relative"):
        for name, value in sorted(vars(obj).items()) if hasattr(obj, "__dict__") else []:
            seed_unseeded(value, seed, f"{path}.{name}", seen)


def load_scheduler(sweep_config: dict, file: str, project: str | Path = ".") -> Scheduler:
    """The sweep's scheduler, checked as W&B checks it; every error one line naming `file` and
    the field. A relative `scheduler.source` is relative to the `project` folder (where
    snakemake runs), as W&B's is to the folder its scheduler runs in."""
    scheduler = sweep_config.get("scheduler") or {}
    engine = scheduler.get("engine")
    if engine == "wandb":
        raise UserError(
            f"{file}: scheduler.engine: wandb needs W&B's launch scheduler, which the local "
            "controller does not run (and `sweeps` refuses it with method: custom); use "
            "engine: optuna, or method grid, random or bayes without a scheduler"
        )
    if engine == "ax":
        raise UserError(
            f"{file}: scheduler.engine: ax needs the optional package ax-platform, which has no "
            "installable build here; use engine: optuna"
        )
    if engine not in ENGINES:
        raise UserError(f"{file}: scheduler.engine: must be optuna, got {engine!r}")
    if scheduler.get("source") and not Path(scheduler["source"]).is_absolute():
        scheduler = {**scheduler, "source": str(Path(project) / scheduler["source"])}
    return _load_optuna(sweep_config, file, scheduler)


def _load_optuna(sweep_config: dict, file: str, scheduler: dict) -> Scheduler:
    try:
        from wandb.sdk.sweeps.scheduler import client
        from wandb.sdk.sweeps.scheduler import optuna as wandb_optuna
        from wandb.sdk.sweeps.sweep_info import SweepInfo
    except ImportError as err:  # optuna is a dependency; a broken install names it
        raise UserError(f"{file}: scheduler.engine: optuna cannot be imported ({err})") from None
    optuna = wandb_optuna.optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no INFO line per study made
    source, optimizer = scheduler.get("source", ""), scheduler.get("optimizer")
    if not metric_names(sweep_config):
        raise UserError(f"{file}: metric: method custom needs a metric (or metrics) to optimize")
    if (optimizer or scheduler.get("search_space")) and not Path(source).is_file():
        raise UserError(f"{file}: scheduler.source: no such file {source}")
    info = SweepInfo(
        id="local", name="local", entity="", project="", config=sweep_config,
        controller_run_name="",
    )  # fmt: skip
    space = distributions = None
    field = "scheduler.search_space"
    try:
        if scheduler.get("search_space"):
            space = wandb_optuna.load_trial_constructor(source, scheduler["search_space"])
        else:
            field = "parameters"
            distributions = wandb_optuna.search_space_from_sweep_config(
                sweep_config.get("parameters", {})
            )
        field = "scheduler.optimizer"
        if optimizer:
            factory = lambda: client.load_optimizer_config(  # noqa: E731
                source, optimizer, optuna.Study, info
            )
        else:
            factory = lambda: wandb_optuna.create_study_from_sweep_config(sweep_config)  # noqa: E731
        study, terminator = _unpack(factory())
        field = "metrics" if "metrics" in sweep_config else "metric"
        wandb_optuna.make_optimizer(
            info, wandb_optuna.OptunaOptions(study, distributions, space, terminator)
        )
    except (ValueError, TypeError) as err:
        raise UserError(f"{file}: {field}: {err}") from None
    return Scheduler(sweep_config, factory, space, distributions)


def _unpack(made):
    return made if isinstance(made, tuple) else (made, None)
