"""The W&B run id of each run of a sweep.

W&B run ids are unique within a project, and a run synced with an id that is already there goes
into that run. So the id is made from the sweep's id and the run's own id (its index and config
hash): the same for every attempt of a run and every rerun of the sweep (an interrupted run
resumes into its own W&B run), and different in every other sweep (another seed, sweep file or
data makes another sweep id). It is made of the run id and hex digits only, so it is safe in a
path and in a W&B URL.
"""

from __future__ import annotations

import hashlib


def wandb_run_id(sweep_id: str, run_id: str) -> str:
    """`<run id>-<8 hex digits of the sweep id and run id>`."""
    digest = hashlib.sha256(f"{sweep_id}/{run_id}".encode()).hexdigest()[:8]
    return f"{run_id}-{digest}"
