"""Follow one run of the user's code while it runs: its process, and what it logs with
`wandb.log`, read from wandb's transaction log in the run's folder every `LOG_POLL_SECONDS`
(wandb is told to write it that often: `FLUSH_ENV`), with no W&B server involved. Each logged
value of the sweep metric is one iteration, as W&B's hyperband counts them, and goes to the
controller at once. When early termination stops the run, what it logged after that value is
ignored, so a stopped run's record does not depend on how fast it was ended.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from pathlib import Path

from snakesweep import stopping
from snakesweep.callbacks import OnEpoch
from snakesweep.record.state import INTERRUPTED
from snakesweep.usercode import process, wandb_log, wandb_records
from snakesweep.usercode.outcome import Watched, is_number

LOG_POLL_SECONDS = 0.2
FLUSH_ENV = "WANDB__TRANSACTION_LOG_FLUSH_INTERVAL"  # wandb's x_transaction_log_flush_interval
# After the run's process ended, how long wandb's exit record may take to reach the disk: a
# function's runs log through the agent's shared wandb service, which may still be writing.
EXIT_WAIT_SECONDS = 3.0
EXIT_POLL_SECONDS = 0.01  # how often the log is read meanwhile (an empty read costs microseconds)


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
        self.pidfd = process.open_pidfd(self.pid)  # before anything can reap it

    def poll(self) -> int | None:
        return self._popen.poll()

    def wait(self, seconds: float) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(seconds)


class RunningFunction:
    """The function's run: a child of the fork server, held by a pidfd from its start."""

    def __init__(self, proc):
        self._process, self.pid = proc, proc.pid
        self.pidfd = process.open_pidfd(self.pid)

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, seconds: float) -> None:
        self._process.join(seconds)


def watch(
    running,
    run_dir: Path,
    metric: str | None,
    on_epoch: OnEpoch,
    timeout: float | None,
    skip: frozenset = frozenset(),
) -> Watched:
    """Follow the run's wandb log until the run ends, early termination stops it, it runs out
    of time or the agent is told to end (`snakesweep.stopping`); then end what is left of its
    process group. Once the run's process has ended, the log is read until wandb's exit record
    (`EXIT_WAIT_SECONDS` at most), so its last row and summary are never lost to wandb-core's
    write timer. `skip`: logs an earlier attempt left, which are not this attempt's."""
    watched, logs = Watched(), LogFollower(run_dir, skip)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        code = running.poll()  # before reading: once it has ended, this read is the last
        if _take(logs.read(), watched, metric, on_epoch):
            watched.ended = "stopped"
        elif code is not None:
            _read_to_exit(logs, watched, metric, on_epoch)
            watched.exit_code, watched.logs = code, len(logs.logs)
            process.clear_group(running.pid, running.poll, process.CLEAR_SECONDS)
            if _ended_by_the_agents_stop(code):
                watched.ended = INTERRUPTED
            return watched
        elif deadline is not None and time.monotonic() > deadline:
            watched.ended = "timed_out"
        elif stopping.requested() is not None:
            watched.ended = INTERRUPTED
        else:
            running.wait(LOG_POLL_SECONDS)  # returns at once when the run ends
            continue
        stop(running, watched.ended)
        watched.exit_code, watched.logs = running.poll(), len(logs.logs)
        return watched


def _ended_by_the_agents_stop(code: int) -> bool:
    """Whether a run that ended by itself ended because its agent was told to end. Under SLURM
    the time limit's SIGTERM reaches the run together with the agent, so the run may die of
    it (or save a checkpoint and exit) before the agent's handler has run; it is interrupted,
    to be resumed, not failed (nor finished with half its epochs)."""
    wait = stopping.SIGNAL_LAG if stopping.killed_by_a_stop_signal(code) else 0.0
    return stopping.requested_within(wait) is not None


def stop(running, why: str) -> None:
    """End a run that is still going, as W&B's agent would (see `snakesweep.usercode.process`):
    an interrupted one gets the agent's own signal and a grace that fits SLURM's KillWait."""
    if why == INTERRUPTED:
        signum = stopping.requested() or signal.SIGTERM
        first, grace = stopping.run_signal(signum), stopping.interrupt_grace()
    else:
        first, grace = signal.SIGTERM, stopping.kill_delay()
    process.end_run(running.pid, running.poll, grace, first, running.pidfd)


def _read_to_exit(logs: LogFollower, watched: Watched, metric, on_epoch: OnEpoch) -> None:
    """Read on until every log the run wrote holds wandb's exit record, or the wait is over."""
    deadline = time.monotonic() + EXIT_WAIT_SECONDS
    while not logs.complete() and time.monotonic() < deadline:
        time.sleep(EXIT_POLL_SECONDS)
        if _take(logs.read(), watched, metric, on_epoch):
            watched.ended = "stopped"
            return


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

    def __init__(self, run_dir: Path, skip: frozenset = frozenset()):
        self.run_dir, self.logs, self.exited = run_dir, {}, set()
        self.skip = skip  # an earlier attempt's logs: not this attempt's values

    def read(self) -> list:
        entries = []
        for path in wandb_log.find_logs(self.run_dir):
            if path in self.skip:
                continue
            reader = self.logs.setdefault(path, wandb_log.TransactionLog(path))
            new = reader.read()
            if any(isinstance(entry, wandb_records.Exit) for entry in new):
                self.exited.add(path)
            entries += new
        return entries

    def complete(self) -> bool:
        """Whether there is a log and every log found so far holds its exit record."""
        return bool(self.logs) and self.exited >= set(self.logs)
