"""Follow one run of the user's code while it runs: its process, and what it logs with
`wandb.log`, read from wandb's transaction log in the run's folder every `LOG_POLL_SECONDS`
(wandb is told to write it that often: `FLUSH_ENV`), with no W&B server involved. Each logged
value of the sweep metric is one iteration, as W&B's hyperband counts them, and goes to the
controller at once. When early termination stops the run, what it logged after that value is
ignored, so a stopped run's record does not depend on how fast it was ended.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

from snakesweep.callbacks import OnEpoch
from snakesweep.usercode import process, wandb_log, wandb_records
from snakesweep.usercode.outcome import Watched, is_number

LOG_POLL_SECONDS = 0.2
FLUSH_ENV = "WANDB__TRANSACTION_LOG_FLUSH_INTERVAL"  # wandb's x_transaction_log_flush_interval
GRACE_SECONDS = 5.0  # from SIGINT to SIGTERM, and from SIGTERM to SIGKILL
# A function's runs log through the agent's shared wandb service, which may still be writing a
# run's records when the run's process has exited: after the exit, the log is read until its
# exit record arrives, for at most this long.
FLUSH_SECONDS = 3.0


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
    flushed_by = None
    while True:
        code = running.poll()  # before reading: once it has ended, only the service writes
        if _take(logs.read(), watched, metric, on_epoch):
            watched.ended = "stopped"
        elif code is not None:
            flushed_by = flushed_by or time.monotonic() + FLUSH_SECONDS
            if not logs.exited and time.monotonic() < flushed_by:
                time.sleep(LOG_POLL_SECONDS / 4)
                continue
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
        if isinstance(entry, wandb_records.Row):
            watched.rows.append(entry.values)
            value = entry.values.get(metric) if metric else None
            if is_number(value):
                watched.iterations += 1
                if on_epoch(watched.iterations, {metric: value}):
                    return True
        elif isinstance(entry, wandb_records.Summary):
            watched.summary.update(entry.update)
            for key in entry.remove:
                watched.summary.pop(key, None)
    return False


class LogFollower:
    """Every wandb log under the run's folder, read as it grows: user code may call
    `wandb.init` more than once, and each run's log is read in the order they began."""

    def __init__(self, run_dir: Path):
        self.run_dir, self.logs, self._exited = run_dir, {}, set()

    def read(self) -> list:
        entries = []
        for path in wandb_log.find_logs(self.run_dir):
            reader = self.logs.setdefault(path, wandb_log.TransactionLog(path))
            new = reader.read()
            if any(isinstance(entry, wandb_records.Exit) for entry in new):
                self._exited.add(path)
            entries += new
        return entries

    @property
    def exited(self) -> bool:
        """Every log found so far holds its run's exit record (and there is one)."""
        return bool(self.logs) and self._exited == set(self.logs)
