"""`snakesweep retry`: run a sweep's failed runs again, once the user has fixed their code.

W&B cannot re-run a sweep's failed runs (wandb/wandb#1879, #6594). Here each failed run (or a
crashed one) gets a `retry` event in the store, under its lock: the agents then hand it out
again with the same index, config and seed, as they hand out a crashed run, and a finished run
is never redone (`SweepState` ignores a retry of one). The store is the record, so
`snakesweep verify` replays the retried runs too.

Each request is also appended to `paths.RETRIES`, an input of the agent jobs: being newer than
their outputs, it makes the next `snakemake` run the agents (and the aggregate) again.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from snakesweep import paths
from snakesweep.errors import UserError
from snakesweep.record import events
from snakesweep.record.state import SweepState, retryable
from snakesweep.record.stores import in_results, open_store
from snakesweep.record.sweep_record import SweepRecord


def retry_runs(results: str | Path = paths.RESULTS, run_ids: list[str] | None = None) -> list[str]:
    """Mark the sweep's failed and crashed runs (or those of `run_ids`) to run again; returns
    their ids. An id that is no run of the sweep, or a run that did not fail, is an error."""
    record_path = paths.under_results(results, paths.SWEEP)
    record = SweepRecord.load(record_path)
    log = open_store(in_results(results, record.store))
    with log.locked(urgent=True):
        runs = SweepState().apply_all(log.read()).runs
        chosen = _chosen(runs, run_ids, record_path)
        if chosen:
            log.append(*(events.retry(run_id, time.time()) for run_id in chosen))
    log.sync()  # on disk before the command says so
    if chosen:
        with open(paths.under_results(results, paths.RETRIES), "a") as requests:
            requests.write(json.dumps({"time": time.time(), "runs": chosen}) + "\n")
    return chosen


def _chosen(runs: dict, run_ids: list[str] | None, record_path: Path) -> list[str]:
    if run_ids is None:
        return [
            run.run_id for run in sorted(runs.values(), key=lambda r: r.index) if retryable(run)
        ]
    for run_id in run_ids:
        if run_id not in runs:
            raise UserError(f"{record_path}: the sweep has no run {run_id!r}")
        if not retryable(runs[run_id]):
            raise UserError(
                f"run {run_id} is {runs[run_id].state}: only a failed or crashed run is run again"
            )
    return list(dict.fromkeys(run_ids))
