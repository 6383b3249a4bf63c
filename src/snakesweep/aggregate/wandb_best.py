"""With the W&B controller, ask W&B which run it ranks best, next to our own ranking.

Both rank by the summary value of the sweep metric, so they agree unless runs were logged
elsewhere too; the aggregate records W&B's answer and says when it differs.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def wandb_best_run(sweep: dict, metric: dict) -> dict | None:
    import wandb

    order = ("-" if metric.get("goal", "minimize") == "maximize" else "+") + f"summary_metrics.{metric['name']}"
    try:
        run = wandb.Api().sweep(sweep["path"]).best_run(order=order)
    except Exception as err:  # no network or no access: the local result stands on its own
        log.warning("could not ask W&B for the best run of %s: %s", sweep["path"], err)
        return None
    if run is None:
        return None
    return {"id": run.id, "name": run.name, "url": run.url}
