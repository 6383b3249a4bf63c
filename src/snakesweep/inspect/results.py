"""A sweep's results folder, read in place: the one loader `status` and `verify` share.

Strictly read-only: the sweep record and the event log are read with plain `open()` (the log
with `store.read_events`, which takes no lock and creates nothing), so both tools work on a
read-only mount, from a cluster's login node, on a results folder copied elsewhere, and never
make an agent wait for the lock.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from snakesweep import paths
from snakesweep.record.stores import in_results, read_events
from snakesweep.record.sweep_record import SweepRecord


@dataclasses.dataclass
class SweepResults:
    """A sweep's record (sweep.json) and events, found from its results folder alone."""

    results: Path
    record: SweepRecord
    events: list[dict]

    def path(self, workflow_path: str) -> Path:
        """A workflow path (`results/...`, as `paths` names it) inside this results folder."""
        return paths.under_results(self.results, workflow_path)

    @property
    def store(self) -> str:
        """The store's path in this results folder, or its database's location."""
        return in_results(self.results, self.record.store)


def load(results: str | Path) -> SweepResults:
    """The sweep under `results`; one clear line if there is none, or it cannot be read."""
    record = SweepRecord.load(paths.under_results(results, paths.SWEEP))
    # A store not there yet reads as no events: `status` may look before the first claim.
    sweep = SweepResults(Path(results), record, [])
    sweep.events = read_events(sweep.store)
    return sweep
