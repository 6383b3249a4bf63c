"""A run of the user's code as a process group that ends with the run.

Each run starts in a session of its own (`setsid`), so the run, wandb's service process and any
worker the user's code forks (DataLoader workers, say) form one process group. W&B's agent
signals only the process it started, so their children can outlive a stopped run; here the
whole group is ended:

- a run that is stopped (early termination, its time out, the agent's own end) gets SIGTERM
  on its main process alone, as under W&B's agent, and has W&B's kill delay to end (a SIGTERM
  handler can save a checkpoint meanwhile);
- then what is left of the group gets SIGTERM, and SIGKILL `CLEAR_SECONDS` later;
- signals go through pidfds to processes checked to be the run's, never to a number that a
  reaped process left behind and another may have taken;
- a run that ends by itself still leaves its group behind if it forked something that lives
  on: that is sent SIGTERM, then SIGKILL, before the run counts as over.

Some processes leave the group on purpose: wandb's own service (`wandb-core`) starts a session
of its own. So the agent also makes itself the "child subreaper" of everything it starts
(Linux's `PR_SET_CHILD_SUBREAPER`): an orphan of a run becomes the agent's child instead of
init's, and every process below the agent that was not there before the run is ended with it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

POLL_SECONDS = 0.05
CLEAR_SECONDS = 2.0  # what is left of a stopped run's group: from SIGTERM to SIGKILL
_PR_SET_PDEATHSIG, _PR_SET_CHILD_SUBREAPER = 1, 36  # linux/prctl.h
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def die_with_parent() -> None:
    """In a run's process, right after the fork: SIGKILL it if the process that started it
    dies (an agent SIGKILLed, say), which cannot end the run itself (Linux only). The run's
    children are then orphans of a dead agent; wandb's service notices its parent is gone."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def become_subreaper() -> bool:
    """Make orphans of this process's descendants its children (Linux only; False elsewhere)."""
    return _LIBC is not None and _LIBC.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def _processes() -> list[tuple[int, str, int]]:
    """(pid, state, parent pid) of every process, from /proc."""
    return [(pid, state, parent) for pid, state, parent, _ in _process_table()]


def _process_table() -> list[tuple[int, str, int, int]]:
    """(pid, state, parent pid, process group) of every process, from /proc."""
    table = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone meanwhile
            continue
        state, parent, group = text[text.rindex(")") + 2 :].split()[:3]  # after "pid (name) "
        table.append((int(stat.parent.name), state, int(parent), int(group)))
    return table


def descendants(root: int | None = None) -> set[int]:
    """The live (not zombie) processes below `root` (default: this one)."""
    children: dict[int, list[int]] = {}
    for pid, state, parent in _processes():
        if state != "Z":
            children.setdefault(parent, []).append(pid)
    found, todo = set(), [os.getpid() if root is None else root]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def end_leftovers(before: set[int], grace: float) -> set[int]:
    """End every process below this one that was not there in `before` (what a finished run
    left behind outside its group), and reap the orphans it adopted; returns those it ended."""
    left = descendants() - before
    for sig in (signal.SIGTERM, signal.SIGKILL):
        _signal_each(left, sig, lambda: descendants() - before)
        if _wait(lambda: not (descendants() & left), grace):
            break
    me = os.getpid()
    for pid, state, parent in _processes():
        if parent == me and state == "Z" and pid not in before:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
    return left


def open_pidfd(pid: int) -> int | None:
    """A file descriptor that names the process `pid` is now, whatever later reuses the number
    (Linux's pidfd); None when it is gone already."""
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None


def send(pidfd: int | None, sig: int) -> bool:
    """Signal the process a pidfd names; False when it has ended (never another process)."""
    if pidfd is None:
        return False
    try:
        signal.pidfd_send_signal(pidfd, sig)
    except ProcessLookupError:
        return False
    return True


def _signal_each(pids: set[int], sig: int, still_ours: Callable[[], set[int]]) -> None:
    """Signal each of `pids` through a pidfd, once the process it names is known to be still
    one of `still_ours()`: a pid reaped and reused meanwhile is never signalled."""
    held = {pid: fd for pid in pids if (fd := open_pidfd(pid)) is not None}
    try:
        ours = still_ours() if held else set()
        for pid, fd in held.items():
            if pid in ours:
                send(fd, sig)
    finally:
        for fd in held.values():
            os.close(fd)


def group_alive(pgid: int) -> bool:
    """Whether a process of the group `pgid` is still running. Zombies do not count: a member
    whose parent (the run's main process) has ended is adopted by this process, the subreaper,
    and stays a zombie in the group until `end_leftovers` reaps it; counting it would make
    `clear_group` wait out both graces for a group that is already over."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member that is not ours (it changed its uid): still there
        pass
    if not sys.platform.startswith("linux"):
        return True
    return any(group == pgid and state != "Z" for _, state, _, group in _process_table())


def _signal_group(pgid: int, sig: int) -> None:
    """Signal the group's members, each through a pidfd taken before it is checked to be a
    member still: a group's number is not reused while a member lives, and a member's pid that
    was reaped meanwhile is never signalled (unlike `killpg` on a number read earlier)."""

    def members() -> set[int]:
        return {pid for pid, state, _, group in _process_table() if group == pgid}

    _signal_each(members(), sig, members)


def _wait(condition: Callable[[], bool], seconds: float) -> bool:
    """Poll `condition` for up to `seconds`; True as soon as it holds."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


def end_run(
    pid: int,
    poll: Callable[[], int | None],
    grace: float,
    first: int = signal.SIGTERM,
    pidfd: int | None = None,
) -> None:
    """Stop a run that is still going as W&B's agent does: `first` (SIGTERM) to its main
    process, which has `grace` seconds to end (a program's SIGTERM handler may save a checkpoint
    meanwhile); then whatever is left of its group is ended (`clear_group`). `pidfd` names the
    main process (opened here when not given, while `poll` says it is not reaped). Returns once
    no process of the group is left."""
    own = pidfd is None
    if own:
        pidfd = open_pidfd(pid) if poll() is None else None
    try:
        if send(pidfd, first):
            _wait(lambda: poll() is not None, grace)
    finally:
        if own and pidfd is not None:
            os.close(pidfd)
    clear_group(pid, poll, CLEAR_SECONDS)


def clear_group(pgid: int, poll: Callable[[], int | None], grace: float) -> None:
    """End whatever is left of the group `pgid` (the run's main process included): SIGTERM,
    then SIGKILL after `grace` seconds. `poll` reaps the main process, so it does not linger as
    a zombie that would count as alive."""

    def gone() -> bool:
        poll()
        return not group_alive(pgid)

    if gone():
        return
    _signal_group(pgid, signal.SIGTERM)
    if _wait(gone, grace):
        return
    _signal_group(pgid, signal.SIGKILL)
    _wait(gone, grace)
