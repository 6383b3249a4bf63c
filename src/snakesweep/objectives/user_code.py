"""One run of the user's own `program` or `function`, with every guarantee the ConvNet's runs have.

A run's folder, `results/runs/<run id>/`, holds:
- `files/`: the run's working directory, where whatever the user's code writes lands (a
  `model.onnx`, say), so no two runs ever share a file;
- `sweep-params.yaml`: the run's parameters as W&B's agent writes them (`WANDB_SWEEP_PARAM_PATH`);
- `stdout.log`, `stderr.log`; `wandb/`: the run's own wandb folder (`WANDB_DIR`);
- `metrics.json`, written last: config, seed, state, reason, every logged row, the summary and
  the sha256 of every file in `files/`.

Metrics come back live from what the code logs with `wandb.log`: wandb's transaction log in the
run's folder is read every `LOG_POLL_SECONDS` (wandb is told to write it that often, see
`FLUSH_ENV`), with no W&B server involved. Each logged value of the sweep metric is one
iteration, as W&B's hyperband counts them, and goes to the controller at once. When early
termination stops the run, what it logged after that value is ignored, so a stopped run's
record does not depend on how fast it was ended.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from snakesweep import paths
from snakesweep.atomic import write_json
from snakesweep.objectives import command, process, wandb_log
from snakesweep.objectives.choice import FUNCTION
from snakesweep.objectives.function import FunctionRunner
from snakesweep.seeding import derive_seed
from snakesweep.train.outputs import METRICS_FILE, ONNX_FILE

FILES_DIR = "files"
PARAM_FILE = "sweep-params.yaml"
STDOUT_FILE, STDERR_FILE = "stdout.log", "stderr.log"
LOG_POLL_SECONDS = 0.2
FLUSH_ENV = "WANDB__TRANSACTION_LOG_FLUSH_INTERVAL"  # wandb's x_transaction_log_flush_interval
GRACE_SECONDS = 5.0  # from SIGINT to SIGTERM, and from SIGTERM to SIGKILL
STDERR_LINES = 5  # how much of a failed run's stderr its reason quotes
API_KEY_ENV = "WANDB_API_KEY"

OnEpoch = Callable[[int, dict], bool]


@dataclass
class Watched:
    """What a run did, as read from its wandb log while it ran."""

    rows: list[dict] = field(default_factory=list)  # every logged row, in order
    summary: dict = field(default_factory=dict)  # what the code set in its run's summary
    iterations: int = 0  # logged values of the sweep metric
    ended: str = "exited"  # exited, stopped (early termination) or timed_out
    exit_code: int | None = None


@dataclass(frozen=True)
class Metrics:
    """What the sweep needs of a run's logged values (`snakesweep.sweep.metric` decides them):
    the metric the engine is told of, and the one a run must log (the engine's, else the one
    runs are ranked by; None: nothing is required)."""

    engine: str | None
    required: str | None


@contextlib.contextmanager
def user_code_runs(
    sweep: dict, metrics: Metrics, data: str, device: str, threads: int, wandb_mode: str
) -> Iterator[Callable]:
    """The agent's `train_one(claim, on_epoch)` for the sweep's program or function."""
    spec = sweep["objective"]
    process.become_subreaper()  # so that what a run starts in a session of its own is ended too
    runner = FunctionRunner(spec["function"]) if spec["kind"] == FUNCTION else None
    base = base_environ(os.environ, data, device, threads, wandb_mode)

    def train_one(claim, on_epoch: OnEpoch) -> dict:
        return run_once(spec, sweep["seed"], metrics, claim, on_epoch, base, runner, threads)

    yield train_one


def base_environ(environ, data: str, device: str, threads: int, wandb_mode: str) -> dict[str, str]:
    """What every run of this agent sees, on top of the agent's own environment: wandb writing
    offline (or as configured) and its log often, the data stage's dataset, this interpreter
    first on PATH (so `/usr/bin/env python` is the one snakesweep runs in), the agent's thread
    count, and only the agent's GPU."""
    env = dict(environ)
    env.update(
        WANDB_MODE=wandb_mode,
        WANDB_SILENT="true",
        WANDB_CACHE_DIR=str(Path(paths.WANDB_DIR, "cache").resolve()),
        SNAKESWEEP_DATA=str(Path(data).resolve()),
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


def run_once(
    spec: dict,
    sweep_seed: int,
    metrics: Metrics,
    claim,
    on_epoch: OnEpoch,
    base: dict,
    runner,
    threads: int,
) -> dict:
    started = time.monotonic()
    run_dir = fresh_run_dir(Path(paths.RUNS_DIR) / claim.run_id)
    seed = derive_seed(sweep_seed, "run", claim.config)
    param_file = run_dir / PARAM_FILE
    env = command.run_environ(
        {**base, "WANDB_DIR": str(run_dir.resolve()), "SNAKESWEEP_SEED": str(seed)},
        f"{claim.run_id}-{claim.attempt}",
        param_file,
    )
    stdout, stderr = str(run_dir / STDOUT_FILE), str(run_dir / STDERR_FILE)
    before = process.descendants()
    if runner is not None:
        command.write_param_file(param_file, claim.engine_config)
        running = RunningFunction(
            runner.start(env, str(run_dir / FILES_DIR), seed, threads, stdout, stderr)
        )
    else:
        argv = command.prepare_run(
            spec["command"], _program(spec), claim.engine_config, param_file, env
        )
        running = RunningProgram(argv, run_dir / FILES_DIR, env, stdout, stderr)
    watched = watch(running, run_dir, metrics.engine, on_epoch, spec.get("run_timeout"))
    process.end_leftovers(before, GRACE_SECONDS)
    outcome = judge(
        watched, metrics.required, spec.get("run_timeout"), Path(stderr), run_dir / FILES_DIR
    )
    write_json(
        run_dir / METRICS_FILE,
        {
            "objective": spec["kind"],
            "config": claim.config,
            "params": claim.engine_config,
            "seed": seed,
            **{key: outcome.get(key) for key in ("state", "reason", "summary", "artifacts")},
            "history": [_plain_row(row) for row in watched.rows],
            "exit_code": watched.exit_code,
            "iterations": watched.iterations,
            "timing": {"total_seconds": time.monotonic() - started},
        },
    )
    return outcome


def _program(spec: dict) -> str:
    """`${program}`: the absolute path, since the run's working directory is its own folder."""
    return str(Path(spec["program"]).resolve()) if spec.get("program") else ""


def fresh_run_dir(run_dir: Path) -> Path:
    """The run's folder, emptied of an earlier attempt's files (that attempt crashed)."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    (run_dir / FILES_DIR).mkdir(parents=True)
    return run_dir


class RunningProgram:
    """The program in a session of its own, started from an argv list, never through a shell."""

    def __init__(self, argv: list[str], cwd: Path, env: dict, stdout: str, stderr: str):
        with open(stdout, "ab") as out, open(stderr, "ab") as err:
            self._popen = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                preexec_fn=process.die_with_parent,  # one prctl call, before the exec
            )
        self.pid = self._popen.pid

    def poll(self) -> int | None:
        return self._popen.poll()

    def wait(self, seconds: float) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(seconds)


class RunningFunction:
    def __init__(self, proc):
        self._process, self.pid = proc, proc.pid

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, seconds: float) -> None:
        self._process.join(seconds)


def watch(
    running, run_dir: Path, metric: str | None, on_epoch: OnEpoch, timeout: float | None
) -> Watched:
    """Follow the run's wandb log until the run ends, early termination stops it, or it runs
    out of time; then end what is left of its process group."""
    watched, logs, deadline = (
        Watched(),
        LogFollower(run_dir),
        None if timeout is None else time.monotonic() + timeout,
    )
    while True:
        code = running.poll()  # before reading: once it has ended, this read is the last
        if _take(logs.read(), watched, metric, on_epoch):
            watched.ended = "stopped"
        elif code is not None:
            watched.exit_code = code
            process.clear_group(running.pid, running.poll, GRACE_SECONDS)
            return watched
        elif deadline is not None and time.monotonic() > deadline:
            watched.ended = "timed_out"
        else:
            running.wait(LOG_POLL_SECONDS)  # returns at once when the run ends
            continue
        process.end_run(running.pid, running.poll, GRACE_SECONDS)
        watched.exit_code = running.poll()
        return watched


def _take(entries: list, watched: Watched, metric: str | None, on_epoch: OnEpoch) -> bool:
    """Add the log's new entries to `watched`; True when early termination says stop (the
    entries after the one that decided it are left out)."""
    for entry in entries:
        if isinstance(entry, wandb_log.Row):
            watched.rows.append(entry.values)
            value = entry.values.get(metric) if metric else None
            if _is_number(value):
                watched.iterations += 1
                if on_epoch(watched.iterations, {metric: value}):
                    return True
        elif isinstance(entry, wandb_log.Summary):
            watched.summary.update(entry.update)
            for key in entry.remove:
                watched.summary.pop(key, None)
    return False


class LogFollower:
    """Every wandb log under the run's folder, read as it grows: user code may call
    `wandb.init` more than once, and each run's log is read in the order they began."""

    def __init__(self, run_dir: Path):
        self.run_dir, self.logs = run_dir, {}

    def read(self) -> list:
        entries = []
        for path in wandb_log.find_logs(self.run_dir):
            reader = self.logs.setdefault(path, wandb_log.TransactionLog(path))
            entries += reader.read()
        return entries


def judge(
    watched: Watched, metric: str | None, timeout: float | None, stderr: Path, files: Path
) -> dict:
    """The run's outcome for the store: state, summary, reason, and the files it wrote."""
    summary = last_values(watched.rows)
    if watched.ended == "exited":
        summary.update(_plain_row(watched.summary))
    outcome = {
        "state": "finished",
        "summary": summary,
        "reason": None,
        "artifacts": digest_files(files),
    }
    if watched.ended == "stopped":
        why = f"stopped early after iteration {watched.iterations} of {metric} (the sweep's early termination)"
        outcome.update(state="stopped", reason=why)
    elif watched.ended == "timed_out":
        why = f"timed out after {timeout:g} s (sweep.run_timeout); ended with its child processes"
        outcome.update(state="failed", reason=why)
    elif watched.exit_code != 0:
        outcome.update(
            state="failed", reason=f"{_exit_text(watched.exit_code)}: {stderr_tail(stderr)}"
        )
    elif metric is not None and not watched.iterations and not _is_number(summary.get(metric)):
        outcome.update(
            state="failed", reason=f"never logged the sweep metric {metric!r} with wandb.log"
        )
    elif (files / ONNX_FILE).exists():
        outcome.update(_check_onnx(files / ONNX_FILE, outcome["artifacts"]))
    return outcome


def _check_onnx(path: Path, artifacts: dict) -> dict:
    """A model.onnx the run wrote is published only once onnxruntime has loaded it."""
    import onnxruntime

    try:
        onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001 - onnxruntime raises its own exception types
        return {
            "state": "failed",
            "reason": f"{FILES_DIR}/{ONNX_FILE} does not load in onnxruntime: {err}",
        }
    return {"onnx_sha256": artifacts[f"{ONNX_FILE}"]}


def last_values(rows: list[dict]) -> dict:
    """W&B's default summary: each key's last logged value (wandb's own `_` keys left out)."""
    last: dict = {}
    for row in rows:
        last.update(row)
    return _plain_row(last)


def _plain_row(row: dict) -> dict:
    """A logged row as the store and the leaderboard hold it: single values only (numbers,
    strings, booleans: a histogram or a table that `wandb.watch` or the user logged stays in
    wandb's own log), no wandb-internal `_` keys but `_step` (`_runtime` and `_timestamp` differ
    on every run; `x._type` marks a W&B object), and NaN or infinity as the strings "nan", "inf"
    and "-inf" (JSON has no such numbers; a string is never ranked)."""
    return {
        k: _plain(v)
        for k, v in row.items()
        if (k == "_step" or not any(part.startswith("_") for part in k.split(".")))
        and (v is None or isinstance(v, (int, float, str)))
    }


def _plain(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def digest_files(folder: Path) -> dict[str, str]:
    """sha256 of every file the run wrote, by its path in `files/` (for `snakesweep verify`)."""
    digests = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        with open(path, "rb") as handle:
            digests[path.relative_to(folder).as_posix()] = hashlib.file_digest(
                handle, "sha256"
            ).hexdigest()
    return digests


def stderr_tail(path: Path, lines: int = STDERR_LINES) -> str:
    """The last lines of the run's stderr, with the W&B API key (if set) blanked out."""
    text = path.read_text(errors="replace") if path.exists() else ""
    kept = [line.strip()[:300] for line in text.splitlines() if line.strip()][-lines:]
    tail = " | ".join(kept) if kept else "(nothing on stderr)"
    key = os.environ.get(API_KEY_ENV)
    return tail.replace(key, "***") if key else tail


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by signal {-code}"
    return f"exit code {code}"
