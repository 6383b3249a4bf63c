"""The W&B side of one run, kept apart so the trainer can be tested without wandb.

Runs are offline by default: sweep agents on a cluster often have no network, and an offline run
directory can be synced later with `wandb sync`. Settings keep wandb quiet and cheap: no console
capture, no system-metrics sampler, no hardware probing, no per-run list of installed packages
(the environment is envs/snakesweep.yaml and pyproject.toml). The API key is never read or
written here; online mode relies on the user's own `wandb login` or WANDB_API_KEY.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MODES = ("offline", "online", "disabled")


@dataclasses.dataclass(frozen=True)
class Tracking:
    """Where and how a run is logged to W&B: the mode (offline, online or disabled), project,
    group (the sweep's name), tags, the folder wandb puts its `wandb/` folder in (None: the
    run's own folder), the run's display name, and its W&B run id and resume mode."""

    mode: str
    project: str
    group: str | None = None
    tags: tuple[str, ...] = ()
    dir: str | None = None
    name: str | None = None
    run_id: str | None = None  # the W&B run id (None: wandb draws one)
    resume: str | None = None  # "allow" for an attempt that resumes its W&B run


class WandbRun:
    """A thin handle on a live wandb run: log per-epoch rows, set the summary, save the model."""

    def __init__(self, run):
        self._run = run
        self.exit_code = 0

    @property
    def id(self) -> str | None:
        return None if self._run is None or self._run.disabled else self._run.id

    @property
    def dir(self) -> Path | None:
        """The run's directory (holding `files/` and the `.wandb` log); None when disabled."""
        if self._run is None or self._run.disabled:
            return None
        return Path(self._run.dir).parent

    def log_epoch(self, row: dict) -> None:
        self._run.log({k: v for k, v in row.items() if k != "epoch"}, step=row["epoch"])

    def set_summary(self, metrics: dict) -> None:
        for key, value in metrics.items():
            self._run.summary[key] = value

    def save_file(self, path: str | Path, base_path: str | Path) -> None:
        """`path` appears under the run's files as its path relative to `base_path`."""
        self._run.save(str(path), base_path=str(base_path), policy="now")


@contextmanager
def wandb_run(config: dict, tracking: Tracking, wandb_dir: str | Path) -> Iterator[WandbRun]:
    """A wandb run for the `with` block; it finishes with exit code 1 if the block raises.

    A run that ends "failed" without an exception sets `handle.exit_code = 1` inside the block.
    `wandb_dir` (used where `tracking.dir` is None) is where wandb puts its `wandb/` folder; it
    is created if missing.
    """
    mode = tracking.mode
    if mode not in MODES:
        from snakesweep.errors import UserError

        raise UserError(f"wandb mode must be one of {', '.join(MODES)}, got {mode!r}")
    import wandb

    os.environ.setdefault("WANDB_SILENT", "true")
    wandb_dir = Path(tracking.dir or wandb_dir)
    wandb_dir.mkdir(parents=True, exist_ok=True)
    settings = wandb.Settings(
        silent=True,
        console="off",
        x_disable_stats=True,
        x_disable_meta=True,
        x_disable_machine_info=True,
        save_code=False,
        # wandb lists every installed package per run by parsing all their metadata: 0.2-0.5 s
        # of each warm run here (cProfile), the same list for every run of an agent.
        x_save_requirements=False,
    )
    run = wandb.init(
        project=tracking.project,
        group=tracking.group,
        job_type="train",
        config=config,
        tags=list(tracking.tags),
        dir=str(wandb_dir),
        mode=mode,
        name=tracking.name,
        id=tracking.run_id,
        resume=tracking.resume,
        settings=settings,
        reinit="create_new",
    )
    handle = WandbRun(run)
    try:
        yield handle
    except BaseException:
        run.finish(exit_code=1)
        raise
    run.finish(exit_code=handle.exit_code)
