"""The search: which engine makes a sweep's suggestions and early-stopping decisions, and what
it is shown of the record. W&B's `sweeps` (grid, random, bayes, hyperband) or, for
`method: custom`, an Optuna study (`snakesweep.sweep.optuna_engine`). Either way the runs it
sees are those `snakesweep.sweep.decide` allows under the declared parallelism, so the
controller and `snakesweep verify` ask the same questions of the same record."""

from __future__ import annotations

from pathlib import Path

from snakesweep.record.state import Run, SweepState
from snakesweep.sweep import decide, engine, optuna_engine
from snakesweep.sweep.custom import is_custom, load_scheduler
from snakesweep.sweep.metric import engine_metric
from snakesweep.sweep.spec import run_config


class Search:
    """`file` and `project` name the sweep file and the folder a custom sweep's scheduler
    source is relative to, for its errors and its loading (see `sweep.custom.load_scheduler`)."""

    def __init__(
        self,
        sweep_config: dict,
        sweep_seed: int,
        parallelism: int,
        file: str = "sweep.scheduler",
        project: str | Path = ".",
    ):
        self.sweep_config, self.sweep_seed, self.parallelism = (
            sweep_config,
            sweep_seed,
            parallelism,
        )
        self._engine_runs = engine.EngineRuns(engine_metric(sweep_config))
        self._sample = (
            engine.RandomSampler(sweep_config) if sweep_config.get("method") == "random" else None
        )
        self._optuna = (
            optuna_engine.OptunaEngine(
                load_scheduler(sweep_config, file, project), sweep_seed, parallelism
            )
            if is_custom(sweep_config)
            else None
        )
        if self._optuna is None:
            engine.warm_up(sweep_config)

    @property
    def prunes(self) -> bool:
        """Whether a custom sweep's study prunes runs (one objective)."""
        return self._optuna is not None and self._optuna.prunes

    def suggest(self, state: SweepState, index: int) -> tuple[dict, dict] | None:
        """Suggestion `index` as (the objective's config, W&B's run-config form); None when
        the search is spent (a grid, a study's terminator)."""
        if self._optuna is not None:
            return self._optuna.suggest(state.by_index, index)
        view = decide.suggestion_view(state, index, self.parallelism, self.sweep_config["method"])
        seen = [self._engine_runs.view(run, as_ended) for run, as_ended in view]
        engine_config = engine.suggest(
            self.sweep_config, seen, self.sweep_seed, index, self._sample
        )
        if engine_config is None:
            return None
        return run_config(self.sweep_config["parameters"], engine_config), engine_config

    def stops(self, state: SweepState, run: Run, step: int) -> bool:
        """The early-termination (or the study's pruner's) decision for `run` after `step`."""
        peers = decide.stop_peers(state, run, self.parallelism)
        if self._optuna is not None:
            return self._optuna.should_stop(run, step, peers)
        views = [self._engine_runs.view(r, True) for r in peers]
        return engine.should_stop(self.sweep_config, run, step, views)
