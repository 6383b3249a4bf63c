"""Turns at the store's lock: first come, first served, and decisions before records.

`flock(2)` does not queue its waiters. When the holder lets go, whichever process is running
takes the lock, often the one that just let go, coming back for its next step, before the
waiter the kernel woke gets a CPU. With 64 agents on 2 cores some agents waited a second
between runs while others did four times as many runs (`benchmarks/controller_scale.py`).
`Turns` puts the takers in two lines, each first come, first served:

- **urgent**: a taker whose agent waits on the answer with nothing to do: a claim, or the early
  stopping decision at the end of an epoch;
- **background**: a record that no decision of its own waits on: a run's finish, a heartbeat.

An urgent taker goes first whenever one is waiting: the head of the background line waits
until no urgent taker is present. The background line cannot starve: between two of its runs'
finishes an agent asks for at most one claim and one decision per epoch, and it waits for each
finish, so the urgent line empties once the agents are training or finishing. Under heavy urgent
traffic (many agents with very short epochs and early stopping) records do wait longer.

How, with nothing but file locks (so that it works across processes and dies with them):
- A taker draws the next number `t` of its line from a counter in `<log>.ticket`, bumped under a
  brief `flock` of that file. In the same step it locks its own byte of `<log>.queue`.
- It then waits for the byte of number `t - 1` of its line: the taker before it holds that byte
  until its turn is over. So each taker is woken by its predecessor alone, in order.
- Urgent takers hold a shared lock on one more byte, the gate, from arrival until their turn
  ends. The background head takes (and drops at once) an exclusive lock on the gate: the kernel
  grants it only when no urgent taker is there.

The byte locks are Linux's open-file-description locks (`F_OFD_SETLKW`): like `flock`, they
belong to one descriptor, so an agent's loop and its heartbeat thread queue apart, and the kernel
drops them when the process dies. Turns only order the takers; the store's `flock` still
excludes them. So a taker that dies while waiting (the one after it stops waiting early) or one
that does not queue (`locked(blocking=False)`) costs order for a moment,
never exclusion. Where the OS has no OFD locks (macOS), `Turns.available` is False and the store
uses the bare `flock`; likewise, with a warning, where the filesystem refuses byte-range locks.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import struct
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

URGENT, BACKGROUND = 0, 1  # the two lines; a line's numbers use every other byte of the queue

_OFD_GETLK = getattr(fcntl, "F_OFD_GETLK", None)
_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", None)
_OFD_SETLKW = getattr(fcntl, "F_OFD_SETLKW", None)
_FLOCK = struct.Struct(
    "hhqqi"
)  # Linux's struct flock: type, whence, start, length, pid (0 for OFD)
_COUNTER = struct.Struct("<Q")  # one per line in `<log>.ticket`, at 8 * line
_GATE = 1 << 62  # the gate's byte in `<log>.queue`, far past any number's
# what a filesystem that cannot take byte-range locks answers (NFS without a lock manager, FUSE)
_UNSUPPORTED = {errno.ENOLCK, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS}


def _lock(fd: int, kind: int, byte: int, wait: bool = False) -> None:
    fcntl.fcntl(fd, _OFD_SETLKW if wait else _OFD_SETLK, _FLOCK.pack(kind, os.SEEK_SET, byte, 1, 0))


def _wait_until_free(fd: int, kind: int, byte: int) -> None:
    """Sleep until a lock of `kind` on `byte` could be had (taking it, then dropping it)."""
    _lock(fd, kind, byte, wait=True)
    _lock(fd, fcntl.F_UNLCK, byte)


class Turns:
    available = _OFD_SETLKW is not None

    def __init__(self, log_path: Path):
        self._paths = {"ticket": Path(f"{log_path}.ticket"), "queue": Path(f"{log_path}.queue")}
        self._fds = threading.local()  # per thread, for the reason the module docstring gives
        self.on = Turns.available  # off for good once the filesystem refuses a byte-range lock

    def _fd(self, name: str) -> int:
        fd = getattr(self._fds, name, None)
        if fd is None:
            fd = os.open(self._paths[name], os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            setattr(self._fds, name, fd)
            weakref.finalize(self, os.close, fd)
        return fd

    @contextlib.contextmanager
    def urgent(self) -> Iterator[None]:
        """Hold the gate open for urgent takers: background takers wait while the block runs.
        Enter it before trying the store's lock, and leave it after letting go."""
        queue = self._fd("queue")
        try:
            _lock(queue, fcntl.F_RDLCK, _GATE, wait=True)
        except OSError as err:
            self._give_up(err)
            yield
            return
        try:
            yield
        finally:
            _lock(queue, fcntl.F_UNLCK, _GATE)

    def urgent_waiting(self) -> bool:
        """Whether an urgent taker is there now (for a background taker that will not wait)."""
        probe = _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, _GATE, 1, 0)
        try:
            return (
                _FLOCK.unpack(fcntl.fcntl(self._fd("queue"), _OFD_GETLK, probe))[0] != fcntl.F_UNLCK
            )
        except OSError as err:
            self._give_up(err)
            return False

    @contextlib.contextmanager
    def turn(self, line: int) -> Iterator[None]:
        """Return once every taker that drew a number of `line` before this one has had its
        turn (and, for the background line, once no urgent taker is waiting); the turn ends
        when the block does."""
        queue, number = self._fd("queue"), None
        try:
            try:
                number = self._draw(queue, line)
                if number:  # None: no place in the line (see `_draw`); 0: the first taker ever
                    _wait_until_free(
                        queue, fcntl.F_RDLCK, 2 * (number - 1) + line
                    )  # predecessor done
                if line == BACKGROUND:
                    _wait_until_free(queue, fcntl.F_WRLCK, _GATE)  # no urgent taker there
            except OSError as err:
                self._give_up(err)
            yield
        finally:
            if number is not None:
                _lock(queue, fcntl.F_UNLCK, 2 * number + line)

    def _draw(self, queue: int, line: int) -> int | None:
        """The next number of `line`, with its byte already locked: drawn and locked in one step
        under the counter's `flock`, so the next taker always finds its predecessor's byte held.
        None if that byte is held already: the counter was reset (its file replaced) while
        takers were queued; this taker then goes without a place rather than wait forever."""
        ticket = self._fd("ticket")
        fcntl.flock(ticket, fcntl.LOCK_EX)
        try:
            raw = os.pread(ticket, _COUNTER.size, _COUNTER.size * line)
            number = _COUNTER.unpack(raw)[0] if len(raw) == _COUNTER.size else 0
            try:
                _lock(queue, fcntl.F_WRLCK, 2 * number + line)
            except (BlockingIOError, PermissionError):  # EAGAIN or EACCES: someone holds it
                return None
            try:
                os.pwrite(ticket, _COUNTER.pack(number + 1), _COUNTER.size * line)
            except OSError as err:  # a full disk, say: name the file, as other write errors do
                _lock(queue, fcntl.F_UNLCK, 2 * number + line)
                raise OSError(err.errno, err.strerror, str(self._paths["ticket"])) from err
            return number
        finally:
            fcntl.flock(ticket, fcntl.LOCK_UN)

    def _give_up(self, err: OSError) -> None:
        """Turns off turns if the filesystem cannot take byte-range locks; the store's `flock`
        still excludes, so agents go on, in the kernel's order. Any other error is raised."""
        if err.errno not in _UNSUPPORTED:
            raise err
        if self.on:
            log.warning(
                "%s: the filesystem refuses byte-range locks (%s); agents take the store's lock "
                "without turns",
                self._paths["queue"],
                err.strerror,
            )
        self.on = False
