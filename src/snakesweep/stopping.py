"""An agent told to end: SLURM's time limit or preemption, Ctrl-C, or an early warning.

SLURM ends a job by sending SIGTERM to each of its processes and SIGKILL `KillWait` seconds
later (30 by default); `sbatch --signal=USR1@<seconds>` (the profile's `slurm_extra`) can warn
earlier. Without a handler the agent would die at once, and its run with it, unrecorded. With
`handled()` the signal only sets a flag: the agent stops claiming, passes the stop to its
running run as W&B's agent does (the same signal, then SIGKILL after the kill delay), records
the run `interrupted` so that the next agent resumes it at once, and leaves with
`Interrupted`. The whole of that fits in `KillWait`: the run's grace is capped at
`INTERRUPT_GRACE`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator

HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)
KILL_DELAY_ENV = "WANDB_AGENT_KILL_DELAY"  # wandb.env.AGENT_KILL_DELAY
KILL_DELAY = 30.0  # wandb_agent.Agent.KILL_DELAY: from SIGTERM to SIGKILL when a run is stopped
INTERRUPT_GRACE = 20.0  # at most, for a run whose agent must leave within SLURM's KillWait (30 s)
SIGNAL_LAG = 1.0  # at most, from a run's death by a job-wide signal to the agent's handler
SIGNAL_POLL_SECONDS = 0.01

_received: list[int] = []
_flag = threading.Event()


class Interrupted(Exception):
    """The agent was told to end (`signum`); its run, if any, is recorded interrupted."""

    def __init__(self, signum: int):
        super().__init__(f"ended by {signal.Signals(signum).name}; the run resumes on the next try")
        self.signum = signum


def kill_delay(environ=os.environ) -> float:
    """Seconds a stopped run has between the stop signal and SIGKILL: W&B's 30, or
    `WANDB_AGENT_KILL_DELAY` as W&B's agent reads it (an integer)."""
    try:
        return float(int(environ.get(KILL_DELAY_ENV, KILL_DELAY)))
    except ValueError:
        return KILL_DELAY


def interrupt_grace(environ=os.environ) -> float:
    """The run's grace when its agent was told to end: the kill delay, within KillWait."""
    return min(kill_delay(environ), INTERRUPT_GRACE)


def requested() -> int | None:
    """The signal that told the agent to end, or None."""
    return _received[0] if _flag.is_set() else None


def requested_within(seconds: float) -> int | None:
    """`requested()`, waiting up to `seconds` for a signal that may be on its way: SLURM
    signals every process of a job at once, so a run can die of the signal before the agent's
    own handler has run."""
    deadline = time.monotonic() + seconds
    while not _flag.is_set() and time.monotonic() < deadline:
        time.sleep(SIGNAL_POLL_SECONDS)
    return requested()


def killed_by_a_stop_signal(exit_code: int) -> bool:
    """Whether a process's exit code says that one of `HANDLED` ended it: killed by it
    (negative, as Python reports it) or a shell's `128 + signal`."""
    return -exit_code in HANDLED or exit_code - 128 in HANDLED


def run_signal(signum: int) -> int:
    """What the running run is sent: SIGINT for Ctrl-C (as a terminal would), else SIGTERM."""
    return signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM


def _note(signum: int, frame) -> None:
    if not _flag.is_set():
        _received.append(signum)
        _flag.set()


def request(signum: int) -> None:
    """Ask the agent to end, as the signal `signum` does (for callers in the same process)."""
    _note(signum, None)


@contextlib.contextmanager
def handled(signals=HANDLED) -> Iterator[None]:
    """Turn `signals` into a stop request for the block (main thread only); restored after."""
    previous = {sig: signal.signal(sig, _note) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _received.clear()
        _flag.clear()
