"""Suggestions and early stopping from W&B's own engine (`sweeps`), made reproducible.

`sweeps.next_run` and `sweeps.stop_runs` are pure apart from the global RNGs of Python and
numpy that random and bayes search draw from. Seeding both from the sweep seed and the
suggestion's index, right before each call, makes suggestion number i the same in every
process and every run of the sweep, however many agents ask and in which order. Which runs the
engine is shown, and as what, is decided by `snakesweep.sweep.decide` (declared parallelism).

This is the only module that imports `sweeps`. It deals in the engine's own config form
(`{name: {"value": v}}`); turning that into the objective's keys is `spec.run_config`'s job.
"""

from __future__ import annotations

import json
import random

import numpy as np

# Imported here, not inside the functions: importing the engine (pydantic, scipy) takes a second
# or more, and inside `suggest` it happened while holding the store's lock.
import sweeps
from sweeps import SweepRun, stop_runs
from sweeps.params import HyperParameterSet

from snakesweep.record.state import CRASHED, FAILED, FINISHED, RUNNING, STOPPED, Run
from snakesweep.seeding import derive_seed
from snakesweep.sweep.metric import engine_metric, number

_ENGINE_STATES = {
    RUNNING: "running",
    CRASHED: "crashed",
    FINISHED: "finished",
    FAILED: "failed",
    STOPPED: "finished",
}


def to_engine_run(
    run: Run, metric: str | None, as_ended: bool = True, upto_step: int | None = None
) -> SweepRun:
    """`run` as the engine sees it: as it ended (`as_ended`), or in flight with its config only.
    `upto_step` keeps the history up to that epoch (a stop decision as of that epoch)."""
    if not as_ended:
        return SweepRun(name=run.run_id, state="running", config=run.engine_config)
    rows = [h for h in run.history if upto_step is None or h["step"] <= upto_step]
    values = [number(h["value"]) for h in rows] if metric else []
    history = [{metric: v} for v in values if v is not None]
    final = number(run.summary.get(metric)) if metric and upto_step is None else None
    summary = {metric: final} if final is not None else {}
    return SweepRun(
        name=run.run_id,
        state="running" if upto_step is not None else _ENGINE_STATES[run.state],
        config=run.engine_config,
        history=history,
        summary_metrics=summary,
        stopped=run.state == STOPPED and upto_step is None,
        should_stop=run.should_stop and upto_step is None,
    )


class EngineRuns:
    """Engine views of runs, built once each: building thousands of pydantic `SweepRun`s on
    every claim made a grid sweep's claims grow with its size. Only views that can no longer
    change are cached: a run's config (fixed by its index) and a settled run as it ended. A
    settled run changes only when `snakesweep retry` hands it out again, and then it is another
    `Run` (a new claim) or in another state, which the cache checks."""

    def __init__(self, metric: str | None):
        self.metric = metric
        self._cache: dict[tuple[int, bool], tuple[Run, str, SweepRun]] = {}

    def view(self, run: Run, as_ended: bool) -> SweepRun:
        key = (run.index, as_ended)
        cached = self._cache.get(key)
        if cached is None or cached[0] is not run or cached[1] != run.state:
            cached = self._cache[key] = (run, run.state, to_engine_run(run, self.metric, as_ended))
        return cached[2]


def next_run(sweep_config: dict, runs: list[SweepRun]) -> SweepRun | None:
    """`sweeps.next_run(sweep_config, runs, validate=False)`, importing only the method in use.

    The engine's `next_runs` imports its bayes module, and with it scikit-learn, whatever the
    method: half a second of every grid or random sweep's register and agent jobs. Grid and
    random go straight to the functions `next_runs` would call, with the arguments it would
    pass (sweeps 0.3.0); anything else, a config the engine would reject included, goes through
    `next_runs` itself. `snakesweep verify` replays suggestions through this same function, so
    it proves that the record follows from these calls; `tests/unit/sweep/test_engine.py`
    holds them to `sweeps.next_run`'s results."""
    method, parameters = sweep_config.get("method"), sweep_config.get("parameters")
    if isinstance(parameters, dict) and parameters:
        if method == "grid":
            from sweeps.grid_search import grid_search_next_runs

            return grid_search_next_runs(runs, sweep_config, validate=False, n=1)[0]
        if method == "random":
            from sweeps.random_search import random_search_next_runs

            return random_search_next_runs(sweep_config, validate=False, n=1)[0]
    return sweeps.next_run(sweep_config, runs, validate=False)


def warm_up(sweep_config: dict) -> None:
    """Pay the engine's first-call costs (scipy, pydantic model building: about a second) now,
    so that they are not paid while holding the store's lock, where 16 agents starting together
    would queue behind each other's warm-up."""
    next_run(sweep_config, [to_engine_run(_WARM_UP_RUN, None)])


_WARM_UP_RUN = Run(run_id="warm-up", index=0, config={}, engine_config={}, agent="", state=FINISHED)


def suggest(
    sweep_config: dict, seen: list[SweepRun], sweep_seed: int, index: int, sample=None
) -> dict | None:
    """Suggestion number `index` given the engine views `seen`, in the engine's form, or None
    when the search is exhausted (a grid whose every point has been handed out). `sample`, a
    `RandomSampler` of this sweep, draws random search's suggestion faster."""
    seed = derive_seed(sweep_seed, "suggest", index)
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    if sample is not None:
        return to_plain(sample())
    suggestion = next_run(sweep_config, seen)
    return None if suggestion is None else to_plain(suggestion.config)


class RandomSampler:
    """Random search's draw, as `sweeps.random_search.random_search_next_runs` makes it, with the
    parameter set built once. The engine rebuilds and re-validates it (jsonschema, per
    parameter) on every call: 2.6 of a suggestion's 3.1 ms, paid under the store's lock. Same
    RNG state in, same config out: `tests/unit/sweep/test_engine.py` holds the two to the same
    values, and `snakesweep verify` replays every suggestion with the engine's own
    `random_search_next_runs` (through `next_run`), not with this sampler."""

    def __init__(self, sweep_config: dict):
        self._params = HyperParameterSet.from_config(sweep_config["parameters"])

    def __call__(self) -> dict:
        for param in self._params:
            param.value = param.sample()
        return self._params.to_config()


def should_stop(sweep_config: dict, run: Run, step: int, peers: list[SweepRun]) -> bool:
    """Early termination's decision for `run` after epoch `step`, given the settled `peers`."""
    if "early_terminate" not in sweep_config:
        return False
    candidate = to_engine_run(run, engine_metric(sweep_config), upto_step=step)
    return any(
        r.name == run.run_id for r in stop_runs(sweep_config, [*peers, candidate], validate=False)
    )


def to_plain(value):
    """`value` as plain JSON data: numpy scalars (the engine returns some, e.g. q_uniform's
    np.float64) become Python numbers, so configs dump to YAML and JSON unchanged."""

    def scalar(v):
        if hasattr(v, "item"):
            return v.item()
        raise TypeError(f"cannot serialise {type(v).__name__}")

    return json.loads(json.dumps(value, default=scalar))
