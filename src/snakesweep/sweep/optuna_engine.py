"""Optuna's suggestions and pruning decisions as pure functions of the sweep's record.

**Suggestions.** Suggestion k is made by one study that has lived through the whole sweep in
order: for j = 0..k, the trials of runs 0..j-W are told their recorded outcome (a finished
run COMPLETE with its summary values, an early-stopped one PRUNED, a failed or crashed one
FAIL; a single objective's trials also get the run's history as intermediate values), then
trial j is asked; runs j-W+1..j-1 are its RUNNING trials. Everything it sees is in the record, so
suggestion k is a pure function of the sweep seed, k, the configs of runs 0..k-1 and the
results of runs 0..k-W, however many agents asked. The sampler's RNG is one stream through
those asks (seeded by the user, or by the sweep where the user left it unseeded; see
`snakesweep.sweep.custom`), and Python's and numpy's global RNGs are seeded from (seed, j)
before ask j. At W = 1 this is exactly the ask-tell sequence of Optuna's own `study.optimize`,
so a seeded sampler gives Optuna's own configs. A controller keeps its study and only asks on:
the asks of runs other agents were handed are replayed (and must give their recorded config).

**Pruning.** A decision about run k after step s is made on a fresh study with a fresh pruner
(the factory is called again: pruners keep state, such as Hyperband's estimated resources):
runs 0..k-W as they ended, each replayed step by step through the pruner (which is how
successive halving records its rungs), runs k-W+1..k-1 as RUNNING trials without values, then run
k's history up to s, asking the pruner after each step. A function of the same record as
hyperband's decisions (`decide.stop_peers`). Multi-objective studies never prune, as Optuna's
pruners (and W&B's scheduler) judge one value.
"""

from __future__ import annotations

import math
import random

import numpy as np

from snakesweep.errors import UserError
from snakesweep.record.state import CRASHED, FAILED, FINISHED, RUNNING, STOPPED, Run
from snakesweep.seeding import derive_seed
from snakesweep.sweep.custom import Scheduler, metric_names
from snakesweep.sweep.decide import results_seen
from snakesweep.sweep.metric import number


class NotReproduced(UserError):
    """A replayed ask gave another config than the recorded one: the sampler draws from a
    source that is not seeded here, or a run that earlier suggestions saw as failed was run
    again by `snakesweep retry` (a controller started after that sees its new result)."""


def trial_state(run: Run):
    """The Optuna state that `run`'s recorded outcome stands for."""
    from optuna.trial import TrialState

    return {
        FINISHED: TrialState.COMPLETE,
        STOPPED: TrialState.PRUNED,
        FAILED: TrialState.FAIL,
        CRASHED: TrialState.FAIL,
        RUNNING: TrialState.RUNNING,
    }[run.state]


def objective_values(run: Run, names: list[str]) -> list[float] | None:
    """The run's final value of each objective, or None if one is missing or no number."""
    values = [number(run.summary.get(name)) for name in names]
    return None if any(v is None or not math.isfinite(v) for v in values) else values


def report_history(trial, run: Run, upto_step: int | None = None, prune: bool = False) -> bool:
    """Report `run`'s history (up to `upto_step`) as `trial`'s intermediate values, asking the
    pruner after each step when `prune`; True if its last answer was prune."""
    pruned, reported = False, set()
    for row in run.history:
        step, value = row["step"], number(row["value"])
        if (upto_step is not None and step > upto_step) or value is None or step in reported:
            continue
        reported.add(step)
        trial.report(value, step=step)
        pruned = trial.should_prune() if prune else False
    return pruned


def tell(study, trial, run: Run, names: list[str], prune: bool = False) -> None:
    """Finish `trial` with `run`'s recorded outcome (a finished run without every objective
    value is a failure, as in W&B's scheduler)."""
    from optuna.trial import TrialState

    if len(names) == 1:
        report_history(trial, run, prune=prune)
    state = trial_state(run)
    values = objective_values(run, names) if state == TrialState.COMPLETE else None
    if state == TrialState.COMPLETE and values is None:
        state = TrialState.FAIL
    study.tell(trial, values if state == TrialState.COMPLETE else None, state=state)


class SuggestionStudy:
    """The study that makes a sweep's suggestions, kept up to date with the record."""

    def __init__(self, scheduler: Scheduler, sweep_seed: int, parallelism: int):
        self.scheduler = scheduler
        self.sweep_seed = sweep_seed
        self.parallelism = parallelism
        self.names = metric_names(scheduler.sweep_config)
        self.study, self.terminator = scheduler.new_study(sweep_seed, "suggest")
        self.trials: list = []  # trial j is run j's
        self.told = 0  # runs 0..told-1 have been told their outcome

    def suggest(self, runs: list[Run], index: int) -> dict | None:
        """Suggestion `index` given the record's runs 0..index-1; None when the search is
        exhausted (a spent grid, a terminator that says stop)."""
        for j in range(len(self.trials), index + 1):
            self._tell_upto(runs, results_seen(j, self.parallelism))
            if self._exhausted():
                return None
            config = self._ask(j)
            if j < index and config != runs[j].config:
                raise NotReproduced(
                    f"run {runs[j].run_id}: replaying Optuna's suggestion {j} gave {config}, "
                    f"not the recorded {runs[j].config}: the sampler draws from an unseeded "
                    "source, or an earlier run was retried (see docs/custom.md)"
                )
            if j == index:
                return config
        raise ValueError(f"suggestion {index} was already made")

    def _tell_upto(self, runs: list[Run], seen: int) -> None:
        while self.told < seen:
            tell(self.study, self.trials[self.told], runs[self.told], self.names)
            self.told += 1

    def _exhausted(self) -> bool:
        is_exhausted = getattr(self.study.sampler, "is_exhausted", None)
        if is_exhausted is not None and is_exhausted(self.study):
            return True
        return self.terminator is not None and bool(self.terminator(self.study))

    def _ask(self, j: int) -> dict:
        seed = derive_seed(self.sweep_seed, "suggest", j)
        random.seed(seed)
        np.random.seed(seed % (1 << 32))
        trial, config = self.scheduler.ask(self.study)
        self.trials.append(trial)
        return to_plain(config)


def should_prune(
    scheduler: Scheduler, sweep_seed: int, run: Run, step: int, peers: list[Run]
) -> bool:
    """The study's pruner's decision for `run` after `step`, given the settled `peers` (runs
    0..k-W): see the module docstring."""
    names = metric_names(scheduler.sweep_config)
    if len(names) != 1:
        return False
    study, _ = scheduler.new_study(sweep_seed, f"prune {run.index}")
    for peer in peers:
        tell(study, study.ask(), peer, names, prune=True)
    for _ in range(len(peers), run.index):
        study.ask()  # runs k-W+1..k-1: in flight, nothing known of them
    return report_history(study.ask(), run, upto_step=step, prune=True)


def to_plain(config: dict) -> dict:
    """A config as plain JSON data (numpy scalars become Python numbers)."""
    return {k: v.item() if hasattr(v, "item") else v for k, v in config.items()}


class OptunaEngine:
    """A custom sweep's decisions for the controller and for `snakesweep verify`: suggestion
    `index` and pruning decisions, from the folded state and the declared parallelism."""

    def __init__(self, scheduler: Scheduler, sweep_seed: int, parallelism: int):
        self.scheduler, self.sweep_seed, self.parallelism = scheduler, sweep_seed, parallelism
        self.prunes = len(metric_names(scheduler.sweep_config)) == 1
        self._study: SuggestionStudy | None = None

    def suggest(self, by_index: list[Run], index: int) -> tuple[dict, dict] | None:
        """Suggestion `index` as (the run's config, the same in W&B's run-config form)."""
        if self._study is None or len(self._study.trials) > index:
            self._study = SuggestionStudy(self.scheduler, self.sweep_seed, self.parallelism)
        config = self._study.suggest(by_index, index)
        return None if config is None else (config, {k: {"value": v} for k, v in config.items()})

    def should_stop(self, run: Run, step: int, peers: list[Run]) -> bool:
        """The pruner's decision for `run` after `step`; `peers` are `decide.stop_peers`."""
        return self.prunes and should_prune(self.scheduler, self.sweep_seed, run, step, peers)
