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
from pathlib import Path

from snakesweep import paths
from snakesweep.atomic import write_json
from snakesweep.data.arrays import file_sha256
from snakesweep.data.dataset import load_dataset
from snakesweep.errors import UserError
from snakesweep.objectives import convnet
from snakesweep.objectives.choice import USER_CODE, objective_for
from snakesweep.sweep.metric import ranking
from snakesweep.sweep.spec import Checks, check_objective, load_sweep_file, sweep_hash
from snakesweep.train.run_config import known_parameters, resolve_run_config

log = logging.getLogger(__name__)

CONTROLLERS = ("local", "wandb")


def register_sweep(
    sweep_file: str | Path,
    data_path: str | Path,
    manifest_path: str | Path,
    out_path: str | Path,
    seed: int,
    controller: str,
    parallelism: int,
    train_defaults: dict,
    project: str,
    entity: str | None,
    wandb_mode: str,
    config_file: str = paths.CONFIG_FILE,
    train_source: str | None = None,
    function: str | None = None,
    run_timeout: float | None = None,
    retries_out: str | Path | None = None,
) -> dict:
    """`retries_out` is `snakesweep retry`'s request file, started empty (an input of the
    agent jobs: see `snakesweep.sweep.retry`)."""
    spec = load_sweep_file(sweep_file)
    chosen = objective_for(spec, sweep_file, function, run_timeout, config_file)
    user_code = chosen["kind"] in USER_CODE
    if user_code:
        check_user_code_settings(controller, wandb_mode, config_file)
        train = {}  # the ConvNet's defaults mean nothing to the user's code
    else:
        check_objective(spec, str(sweep_file), objective_checks())
        # The resolved config, not the overrides as written: `train: {}` and the defaults spelled
        # out are the same experiment, and so the same sweep.
        train = resolve_run_config(train_defaults, source=f"{train_source or config_file}: train")
    load_dataset(data_path, manifest_path)  # a corrupted dataset stops here, before any agent
    identity = {
        "sweep": spec,
        "seed": seed,
        "train": train,
        "data": file_sha256(manifest_path),
        "parallelism": parallelism,
    }
    if user_code:  # the code's name, not its content: a fixed bug must not start a new sweep
        identity["objective"] = chosen
    digest = sweep_hash(identity)
    ranked_by = ranking(spec, None if user_code else convnet.DEFAULT_RANKING)
    record = {
        "controller": controller,
        "file": str(sweep_file),
        "config": spec,
        "hash": digest,
        "seed": seed,
        "parallelism": parallelism,
        "objective": chosen,
        "ranking": dataclasses.asdict(ranked_by) if ranked_by else None,
        "train": train,
        "project": project,
        "entity": entity,
    }
    if controller == "local":
        sweep_id = f"local-{digest[:12]}"
        record.update(sweep_id=sweep_id, name=f"{Path(sweep_file).stem}-{digest[:8]}")
    elif controller == "wandb":
        record.update(register_wandb_sweep(spec, project, entity, wandb_mode, config_file))
    else:
        raise UserError(
            f"{config_file}: sweep.controller must be one of {', '.join(CONTROLLERS)}, got {controller!r}"
        )
    # Both controllers keep the runs' bookkeeping in a local store: with `local` it also
    # decides; with `wandb` it records what W&B handed out, so the aggregate works the same.
    store = Path(paths.store_path(record["sweep_id"]))
    continued = store.exists() and store.stat().st_size > 0
    store.parent.mkdir(parents=True, exist_ok=True)
    store.touch()
    record["store"] = str(store)
    log.info(
        "%s %s sweep %s (%s)",
        "continuing" if continued else "registered",
        controller,
        record["sweep_id"],
        sweep_file,
    )
    write_json(out_path, record)
    if retries_out is not None:
        Path(retries_out).touch()
    return record


def objective_checks() -> Checks:
    """What a sweep file is checked against: the built-in ConvNet's parameters and metrics."""
    return Checks(known_parameters(), convnet.METRICS, convnet.EPOCH_METRICS)


def check_user_code_settings(controller: str, wandb_mode: str, config_file: str) -> None:
    """The user's code reports through its own `wandb.log`: that needs a W&B run (not `disabled`),
    and snakesweep's controller, which reads what the run logs as it goes."""
    if controller != "local":
        raise UserError(
            f"{config_file}: sweep.controller: your own training code runs under the local controller only, "
            f"not {controller!r} (W&B's own `wandb agent` runs it under the W&B server)"
        )
    if wandb_mode == "disabled":
        raise UserError(
            f"{config_file}: wandb.mode: your own training code reports its metrics with wandb.log, which "
            "wandb.mode: disabled turns off; use offline (the default) or online"
        )


def register_wandb_sweep(
    spec: dict, project: str, entity: str | None, wandb_mode: str, config_file: str
) -> dict:
    """`wandb.sweep` on the W&B server; agents then pull configs from it with `wandb.agent`."""
    if wandb_mode != "online":
        raise UserError(
            f"{config_file}: sweep.controller is wandb but wandb.mode is {wandb_mode}: W&B has no offline "
            "sweeps; set wandb.mode: online, or use sweep.controller: local"
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
