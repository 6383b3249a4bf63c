"""With the W&B controller, ask W&B which run it ranks best, next to our own ranking.

W&B orders the sweep's runs by the summary value of the metric in the sweep config it holds,
which is the one we registered, so it agrees with our ranking unless runs were logged to the
sweep from elsewhere too. The aggregate records W&B's answer in best_run.json
(`wandb_best_run`) for the user to compare; it does not compare the two itself.
"""

from __future__ import annotations

import logging

from snakesweep.record.sweep_record import SweepRecord

log = logging.getLogger(__name__)


def wandb_best_run(sweep: SweepRecord) -> dict | None:
    """W&B's best run of the sweep (id, name, url), or None if W&B cannot be asked."""
    import wandb

    try:
        run = wandb.Api().sweep(sweep.path).best_run()  # W&B's own order: the config's metric
    except Exception as err:  # no network or no access: the local result stands on its own
        log.warning("could not ask W&B for the best run of %s: %s", sweep.path, err)
        return None
    if run is None:
        return None
    return {"id": run.id, "name": run.name, "url": run.url}
