"""Register a sweep: check everything a run will need, then fix the sweep's identity.

A local sweep's id is a hash of what decides its runs' results (the sweep file, the seed, the
trainer defaults, the data and the declared parallelism): the same inputs continue the same
sweep, e.g. after raising `agents.count`, and any change to them starts a new one, never mixing
runs of two experiments.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from snakesweep import paths
from snakesweep.data.arrays import file_sha256
from snakesweep.data.dataset import DataFiles
from snakesweep.errors import UserError
from snakesweep.record import fs_check, stores
from snakesweep.record.sweep_record import Objective, SweepRecord
from snakesweep.settings import RegisterSettings
from snakesweep.sweep.metric import ranking
from snakesweep.sweep.spec import Checks, check_objective, sweep_hash

log = logging.getLogger(__name__)

CONTROLLERS = ("local", "wandb")


@dataclasses.dataclass(frozen=True)
class ObjectiveInfo:
    """What registering needs to know of the sweep's objective, given as data by the layer
    that picks it (`snakesweep.objective`): its record, what the sweep file is checked against
    beyond W&B's own validation (None: nothing more, as for the user's code), the metric runs
    are ranked by when the file names none (`{"name", "goal"}`, or None), and the ConvNet's
    resolved defaults (`{}` for the user's code)."""

    objective: Objective
    checks: Checks | None
    default_ranking: Mapping[str, str] | None
    train: dict


def register_sweep(
    settings: RegisterSettings,
    spec: dict,
    info: ObjectiveInfo,
    data: DataFiles | None,
    out_path: str | Path,
    retries_out: str | Path | None = None,
) -> SweepRecord:
    """Check the sweep file `spec` (as `load_sweep_file` read it) against its objective, fix
    the sweep's identity and write its record to `out_path`. `data` is the data stage's
    output, or None where the objective has none. `retries_out` is `snakesweep retry`'s
    request file, started empty (an input of the agent jobs: see `snakesweep.sweep.retry`)."""
    if info.checks is not None:
        check_objective(spec, settings.sweep_file, info.checks)
    if data is not None:
        data.load()  # a corrupted dataset stops here, before any agent
    digest = sweep_hash(_identity(settings, spec, info, data))
    named = _named(settings, spec, digest)
    record = SweepRecord(
        controller=settings.controller,
        file=str(settings.sweep_file),
        config=spec,
        hash=digest,
        seed=settings.seed,
        parallelism=settings.parallelism,
        objective=info.objective,
        ranking=ranking(spec, info.default_ranking),
        train=info.train,
        project=settings.project,
        entity=named.pop("entity", settings.entity),  # the W&B server's default entity
        **named,
    )
    # Both controllers keep the runs' bookkeeping in a local store: with `local` it also
    # decides; with `wandb` it records what W&B handed out, so the aggregate works the same.
    if not stores.is_database(record.store) and not settings.single_node:
        _check_filesystem(settings)
    continued = stores.prepare(record.store)
    log.info(
        "%s %s sweep %s (%s)",
        "continuing" if continued else "registered",
        settings.controller,
        record.sweep_id,
        settings.sweep_file,
    )
    record.save(out_path)
    if retries_out is not None:
        Path(retries_out).touch()
    return record


def _identity(
    settings: RegisterSettings, spec: dict, info: ObjectiveInfo, data: DataFiles | None
) -> dict[str, Any]:
    """What decides the runs' results: the sweep file, the seed, the ConvNet's defaults, the
    data and the declared parallelism; for the user's code its name, not its content, so that
    fixing a bug does not start a new sweep."""
    identity = {
        "sweep": spec,
        "seed": settings.seed,
        "train": info.train,
        "parallelism": settings.parallelism,
    }
    if data is not None:
        identity["data"] = file_sha256(data.manifest)
    if info.objective.user_code:
        identity["objective"] = info.objective.to_json()
    source = (spec.get("scheduler") or {}).get("source")
    if source and Path(source).is_file():
        # the study's factory and space decide every suggestion: editing them starts a new
        # sweep, where the old record's suggestions would no longer replay
        identity["scheduler_source"] = file_sha256(source)
    return identity


def _named(settings: RegisterSettings, spec: dict, digest: str) -> dict:
    """The sweep's id, name and store: local ones from its identity, or the W&B server's."""
    if settings.controller == "local":
        sweep_id = f"local-{digest[:12]}"
        named = {"sweep_id": sweep_id, "name": f"{Path(settings.sweep_file).stem}-{digest[:8]}"}
    elif settings.controller == "wandb":
        named = register_wandb_sweep(spec, settings)
    else:
        raise UserError(
            f"{settings.config_file}: sweep.controller must be one of {', '.join(CONTROLLERS)}, "
            f"got {settings.controller!r}"
        )
    return {**named, "store": stores.location_for(settings.store, named["sweep_id"])}


def _check_filesystem(settings: RegisterSettings) -> None:
    """Refuse a file store whose lock may not hold across the nodes (`fs_check`)."""
    verdict = fs_check.check_folder(paths.SWEEP_DIR)
    if not verdict.safe:
        raise UserError(
            f"{settings.config_file}: sweep.store is file, but {paths.SWEEP_DIR}/ is on "
            f"{verdict.why}, so agents on two nodes could claim the same run; set sweep.store "
            "to a postgresql:// URL, or sweep.single_node: true if every agent runs on one node"
        )
    log.info("file store on %s", verdict.why)


def register_wandb_sweep(spec: dict, settings: RegisterSettings) -> dict:
    """`wandb.sweep` on the W&B server; agents then pull configs from it with `wandb.agent`."""
    wandb_mode, config_file = settings.wandb_mode, settings.config_file
    project, entity = settings.project, settings.entity
    if wandb_mode != "online":
        raise UserError(
            f"{config_file}: sweep.controller is wandb but wandb.mode is {wandb_mode}: W&B has "
            "no offline sweeps; set wandb.mode: online, or use sweep.controller: local"
        )
    import wandb

    if not (os.environ.get("WANDB_API_KEY") or _netrc_has_wandb()):
        raise UserError(
            f"{config_file}: sweep.controller is wandb but no W&B API key was found "
            "(set WANDB_API_KEY or run `wandb login`)"
        )
    sweep_id = wandb.sweep(sweep=spec, project=project, entity=entity)
    entity = entity or wandb.Api().default_entity
    return {
        "sweep_id": sweep_id,
        "name": sweep_id,
        "entity": entity,
        "path": f"{entity}/{project}/{sweep_id}",
        "url": f"https://wandb.ai/{entity}/{project}/sweeps/{sweep_id}",
    }


def _netrc_has_wandb() -> bool:
    import netrc

    try:
        hosts = netrc.netrc().hosts
    except (FileNotFoundError, netrc.NetrcParseError):
        return False
    return any("wandb" in host for host in hosts)
