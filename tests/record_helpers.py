"""Sweep records as the tests need them, without registering a sweep: a local sweep, of the
built-in ConvNet by default, ranked as registration ranks it (`snakesweep.sweep.metric.ranking`)."""

from __future__ import annotations

import dataclasses

from controller_helpers import PARALLELISM

from snakesweep import paths
from snakesweep.convnet.objective import DEFAULT_RANKING
from snakesweep.record.sweep_record import CONVNET, Objective, SweepRecord
from snakesweep.sweep.metric import ranking

SWEEP_ID = "local-0123456789ab"
CONVNET_OBJECTIVE = Objective(CONVNET)


def sweep_record(config: dict, objective: Objective = CONVNET_OBJECTIVE, **fields) -> SweepRecord:
    """The record of a local sweep of the sweep file `config` that trains `objective` (the
    ConvNet by default), ranked as registration would rank it; `fields` replace any other of
    the record's fields (`ranking`, `train`, `sweep_id`, ...)."""
    record = SweepRecord(
        controller="local",
        sweep_id=SWEEP_ID,
        name="sweep-01234567",
        file="sweep.yaml",
        config=config,
        hash="0123456789ab" + "0" * 52,
        seed=0,
        parallelism=PARALLELISM,
        objective=objective,
        ranking=ranking(config, None if objective.user_code else DEFAULT_RANKING),
        train={},
        project="snakesweep",
        entity=None,
        store=paths.store_path(SWEEP_ID),
    )
    return dataclasses.replace(record, **fields)
