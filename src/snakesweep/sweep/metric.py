"""The sweep metric, defined once: what the engine is told, and what runs are ranked by.

W&B's behaviour when a sweep file names no `metric`: grid and random search run (they need
none), bayes search and early termination are refused, and nothing is ranked. snakesweep does
the same for the engine: it sees no metric, so no value is reported to it and no run is stopped
early. The sweep still ends with a leaderboard and a published best model, so runs are then
ranked by the objective's own metric when it has one (the ConvNet's `val_accuracy`, maximized),
and every place that shows the ranking says that it came from the objective, not the sweep.

`ranking` is decided once, when the sweep is registered, and kept in its record
(`results/sweep/sweep.json`, `SweepRecord.ranking`); everything after reads it from there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from snakesweep.record.state import FINISHED, STOPPED
from snakesweep.record.sweep_record import FROM_OBJECTIVE, FROM_SWEEP, Ranking

DEFAULT_GOAL = "minimize"  # W&B's schema default for metric.goal
RANKED_STATES = (FINISHED, STOPPED)  # a failed or crashed run is never ranked, whatever it logged


def engine_metric(sweep_config: Mapping[str, Any]) -> str | None:
    """The metric the engine and early termination see: the file's, or None as under W&B. A
    multi-objective sweep's (`metrics`) is its first: the one the agents follow live."""
    metric = sweep_config.get("metric") or (sweep_config.get("metrics") or [None])[0]
    return metric["name"] if metric else None


def ranking(
    sweep_config: Mapping[str, Any], objective_default: Mapping[str, str] | None
) -> Ranking | None:
    """What runs are ranked by: the sweep file's metric with W&B's default goal, else the
    objective's default metric (`{"name", "goal"}`), else None (nothing can be ranked)."""
    if sweep_config.get("metric") or sweep_config.get("metrics"):
        # a multi-objective sweep's declared rule: its first metric ranks (see aggregate.pareto)
        metric = sweep_config.get("metric") or sweep_config["metrics"][0]
        return Ranking(metric["name"], metric.get("goal", DEFAULT_GOAL), FROM_SWEEP)
    if objective_default:
        return Ranking(objective_default["name"], objective_default["goal"], FROM_OBJECTIVE)
    return None


def published_ranking(best: Mapping[str, Any]) -> Ranking:
    """The ranking a published best run (best_run.json) was chosen by."""
    metric = best["metric"]
    return Ranking(metric["name"], metric["goal"], metric["source"])


def score(state: str, summary: Mapping[str, Any], metric: str) -> float | None:
    """The value a run is ranked by, or None when it is not ranked: only a finished or
    early-stopped run with a finite number for the metric is (a NaN never ranks best)."""
    value = summary.get(metric)
    if state not in RANKED_STATES or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None


def number(value) -> float | None:
    """A recorded value as a search engine needs it: a float, with the strings the store writes
    for NaN and infinity read back; anything that is no number (a logged string, a bool) is
    none."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
