"""One run of the user's own `program` or `function`, with every guarantee the ConvNet's runs have.

A run's folder, `results/runs/<run id>/`, holds:
- `files/`: the run's working directory, where whatever the user's code writes lands (a
  `model.onnx`, say), so no two runs ever share a file; with `agents.workdir: project` the run
  starts in the agent's folder instead, as under `wandb agent` (relative paths such as
  `data/train.csv` then work as they do there), and finds this folder in `SNAKESWEEP_RUN_DIR`;
- `sweep-params.yaml`: the run's parameters as W&B's agent writes them (`WANDB_SWEEP_PARAM_PATH`);
- `stdout.log`, `stderr.log`; `wandb/`: the run's own wandb folder (`WANDB_DIR`);
- `metrics.json`, written last: config, seed, state, reason, every logged row, the summary and
  the sha256 of every file in `files/`.

Its metrics come back live from what the code logs with `wandb.log` (`snakesweep.usercode.watch`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from snakesweep import paths, stopping
from snakesweep.atomic import write_json
from snakesweep.callbacks import OnEpoch
from snakesweep.data.dataset import DataFiles
from snakesweep.record.state import INTERRUPTED
from snakesweep.record.sweep_record import FUNCTION, SweepRecord
from snakesweep.seeding import derive_seed
from snakesweep.settings import AgentSettings
from snakesweep.usercode import command, process, wandb_log
from snakesweep.usercode.function import FunctionRunner, RunSetup
from snakesweep.usercode.outcome import judge, plain_row
from snakesweep.usercode.watch import (
    FLUSH_ENV,
    LOG_POLL_SECONDS,
    RunningFunction,
    RunningProgram,
    stop,
    watch,
)
from snakesweep.wandb_ids import wandb_run_id

RESUME_ENV = "WANDB_RESUME"  # wandb.env.RESUME
RESUMED_ENV = "WANDB_RESUMED"  # the setting behind `wandb.run.resumed`
PROJECT_WORKDIR = "project"  # agents.workdir: runs start in the agent's folder, as under W&B
RUN_DIR_ENV = "SNAKESWEEP_RUN_DIR"  # the run's own folder for what it writes (its files/)


@dataclass(frozen=True)
class Metrics:
    """What the sweep needs of a run's logged values (`snakesweep.sweep.metric` decides them):
    the metric the engine is told of, and the one a run must log (the engine's, else the one
    runs are ranked by; None: nothing is required)."""

    engine: str | None
    required: str | None


@contextlib.contextmanager
def user_code_runs(
    sweep: SweepRecord,
    metrics: Metrics,
    settings: AgentSettings,
    data: DataFiles | None,
    device: str,
) -> Iterator[UserCodeRuns]:
    """The agent's `train_one(claim, on_epoch)` for the sweep's program or function."""
    process.become_subreaper()  # so that what a run starts in a session of its own is ended too
    objective = sweep.objective
    runner = FunctionRunner(objective.function) if objective.kind == FUNCTION else None
    base = base_environ(os.environ, data, device, settings.threads, settings.wandb_mode)
    runs = UserCodeRuns(sweep, metrics, base, runner, settings.threads)
    runs.in_project = settings.workdir == PROJECT_WORKDIR
    yield runs


class UserCodeRuns:
    """Runs the sweep's program or function, one claim at a time, in a process of its own."""

    def __init__(self, sweep: SweepRecord, metrics: Metrics, base: dict, runner, threads: int):
        self.objective, self.sweep_seed, self.metrics = sweep.objective, sweep.seed, metrics
        self.base, self.runner, self.threads = base, runner, threads
        self.sweep_id = sweep.sweep_id
        self.in_project = False  # True: runs start in the agent's folder, as under `wandb agent`

    def __call__(self, claim, on_epoch: OnEpoch) -> dict:
        started = time.monotonic()
        run_dir = Path(paths.run_dir(claim.run_id))
        run_dir = kept_run_dir(run_dir) if claim.resume else fresh_run_dir(run_dir)
        earlier = frozenset(wandb_log.find_logs(run_dir))  # an interrupted attempt's
        seed = derive_seed(self.sweep_seed, "run", claim.config)
        before = process.descendants()
        running = self._start(claim, run_dir, seed)
        timeout = self.objective.run_timeout
        try:
            watched = watch(running, run_dir, self.metrics.engine, on_epoch, timeout, earlier)
        finally:  # whatever went wrong while watching, no process of the run outlives it
            if running.poll() is None:
                stop(running, INTERRUPTED if stopping.requested() else "stopped")
            process.end_leftovers(before, process.CLEAR_SECONDS)
            close_pidfd(running)
        if watched.ended == INTERRUPTED:
            return {"state": INTERRUPTED, "reason": str(stopping.Interrupted(stopping.requested()))}
        files = run_dir / paths.RUN_FILES
        stderr = run_dir / paths.STDERR_FILE
        outcome = judge(watched, self.metrics.required, timeout, stderr, files)
        record = {
            "objective": self.objective.kind,
            "config": claim.config,
            "params": claim.engine_config,
            "seed": seed,
            **{key: outcome.get(key) for key in ("state", "reason", "summary", "artifacts")},
            "history": [plain_row(row) for row in watched.rows],
            "exit_code": watched.exit_code,
            "iterations": watched.iterations,
            "timing": {"total_seconds": time.monotonic() - started},
        }
        write_json(run_dir / paths.RUN_METRICS, record)
        return outcome

    def _start(self, claim, run_dir: Path, seed: int):
        """Start the run's process: the function forked from its server, or the program."""
        param_file = run_dir / paths.PARAM_FILE
        own = {
            "WANDB_DIR": str(run_dir.resolve()),
            "SNAKESWEEP_SEED": str(seed),
            RUN_DIR_ENV: str((run_dir / paths.RUN_FILES).resolve()),
        }
        if claim.resume:  # W&B's resume (`resume="allow"`); offline wandb cannot ask a server
            own.update({RESUME_ENV: "allow", RESUMED_ENV: "true"})  # whether it resumes
        env = command.run_environ(
            {**self.base, **own}, wandb_run_id(self.sweep_id, claim.run_id), param_file
        )
        stdout, stderr = str(run_dir / paths.STDOUT_FILE), str(run_dir / paths.STDERR_FILE)
        files = Path.cwd() if self.in_project else run_dir / paths.RUN_FILES
        if self.runner is not None:
            command.write_param_file(param_file, claim.engine_config)
            setup = RunSetup(env, str(files), stdout, stderr, seed, self.threads)
            return RunningFunction(self.runner.start(setup))
        program = _program(self.objective.program)
        argv = command.prepare_run(
            self.objective.command, program, claim.engine_config, param_file, env
        )
        return RunningProgram(argv, files, env, stdout, stderr)


def base_environ(
    environ, data: DataFiles | None, device: str, threads: int, wandb_mode: str
) -> dict[str, str]:
    """What every run of this agent sees, on top of the agent's own environment: wandb writing
        offline (or as configured) and its log often, the data stage's dataset (when the objective
    has one: `SNAKESWEEP_DATA`), this interpreter
        first on PATH (so `/usr/bin/env python` is the one snakesweep runs in), the agent's thread
        count, and only the agent's GPU."""
    env = dict(environ)
    if data is not None:
        env["SNAKESWEEP_DATA"] = str(Path(data.dataset).resolve())
    env.update(
        WANDB_MODE=wandb_mode,
        WANDB_SILENT="true",
        WANDB_CACHE_DIR=str(Path(paths.WANDB_DIR, "cache").resolve()),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        CUDA_VISIBLE_DEVICES=visible_gpu(device, environ.get("CUDA_VISIBLE_DEVICES")),
    )
    env.setdefault(FLUSH_ENV, str(LOG_POLL_SECONDS))
    return env


def visible_gpu(device: str, visible: str | None) -> str:
    """CUDA_VISIBLE_DEVICES for a run on `device` ("cpu" or "cuda:N", N counted among the GPUs
    the agent sees): the one physical GPU, or none for the CPU."""
    if not device.startswith("cuda"):
        return ""
    index = int(device.partition(":")[2] or 0)
    names = visible.split(",") if visible else None
    return names[index] if names else str(index)


def _program(program: str | None) -> str:
    """`${program}`: the absolute path, since the run's working directory is its own folder."""
    return str(Path(program).resolve()) if program else ""


def kept_run_dir(run_dir: Path) -> Path:
    """The folder of an interrupted run, as its last attempt left it (a checkpoint, say), for
    the attempt that resumes it; its earlier `metrics.json` is gone."""
    (run_dir / paths.RUN_FILES).mkdir(parents=True, exist_ok=True)
    (run_dir / paths.RUN_METRICS).unlink(missing_ok=True)
    return run_dir


def close_pidfd(running) -> None:
    if running.pidfd is not None:
        os.close(running.pidfd)
        running.pidfd = None


def fresh_run_dir(run_dir: Path) -> Path:
    """The run's folder, emptied of an earlier attempt's files (that attempt crashed)."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    (run_dir / paths.RUN_FILES).mkdir(parents=True)
    return run_dir
