"""Suggestions and early stopping from W&B's own engine (`sweeps`), made reproducible.

`sweeps.next_run` and `sweeps.stop_runs` are pure apart from the global RNGs of Python and
numpy that random and bayes search draw from. Seeding both from the sweep seed and the
suggestion's index, right before each call, makes suggestion number i the same in every
process and every run of the sweep, however many agents ask and in which order.
"""

from __future__ import annotations

import random

import numpy as np

# Imported here, not inside the functions: importing the engine (pydantic, scipy) takes a second
# or more, and inside `suggest` it happened while holding the store's lock.
from sweeps import SweepRun, next_run, stop_runs

from snakesweep.seeding import derive_seed
from snakesweep.sweep.spec import flatten_run_config, to_plain
from snakesweep.sweep.state import CRASHED, FAILED, FINISHED, RUNNING, STOPPED, Run

_ENGINE_STATES = {RUNNING: "running", CRASHED: "crashed", FINISHED: "finished", FAILED: "failed", STOPPED: "finished"}


def to_engine_run(run: Run, metric: str | None) -> SweepRun:
    history = [{metric: h["value"]} for h in run.history] if metric else []
    summary = {metric: run.summary[metric]} if metric and metric in run.summary else {}
    return SweepRun(
        name=run.run_id,
        state=_ENGINE_STATES[run.state],
        config=run.engine_config,
        history=history,
        summary_metrics=summary,
        stopped=run.state == STOPPED,
        should_stop=run.should_stop,
    )


def warm_up(sweep_config: dict) -> None:
    """Pay the engine's first-call costs (scipy, pydantic model building: about a second) now,
    so that they are not paid while holding the store's lock, where 16 agents starting together
    would queue behind each other's warm-up."""
    next_run(sweep_config, [to_engine_run(_WARM_UP_RUN, None)], validate=False)


_WARM_UP_RUN = Run(run_id="warm-up", index=0, config={}, engine_config={}, agent="", state=FINISHED)


def suggest(sweep_config: dict, runs: list[Run], sweep_seed: int, index: int) -> tuple[dict, dict] | None:
    """Suggestion number `index`: (engine config, trainer config), or None when the search is
    exhausted (a grid whose every point has been handed out)."""
    seed = derive_seed(sweep_seed, "suggest", index)
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    metric = sweep_config.get("metric", {}).get("name")
    suggestion = next_run(sweep_config, [to_engine_run(r, metric) for r in runs], validate=False)
    if suggestion is None:
        return None
    engine_config = to_plain(suggestion.config)
    trainer_config = flatten_run_config({name: spec["value"] for name, spec in engine_config.items()})
    return engine_config, trainer_config


def runs_to_stop(sweep_config: dict, runs: list[Run]) -> list[str]:
    """Ids of running runs that early termination (hyperband) says to stop."""
    if "early_terminate" not in sweep_config:
        return []
    metric = sweep_config["metric"]["name"]
    engine_runs = [to_engine_run(r, metric) for r in runs if r.history]
    return [r.name for r in stop_runs(sweep_config, engine_runs, validate=False) if r.state == "running"]
