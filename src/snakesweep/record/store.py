"""The local controller's shared state: one append-only log of events, guarded by a file lock.

Many agent processes, on one machine or on the nodes of a cluster, share one store on a shared
filesystem. Two properties make that safe:

- Every change is one appended line, `<crc32> <json>\\n`, written under an exclusive lock. A
  process killed mid-write leaves at most one torn last line; readers ignore a line whose
  checksum does not match, and the next writer cuts the torn tail off before appending.
  The log is never rewritten, so no finished run can be lost by a crash. Results (run
  finishes) reach the disk within a second, fsynced in the background (see `locked`).
- The lock is a blocking `flock(2)` on `<log>.lock`, which the kernel releases when the holder
  dies, and which Linux maps to POSIX byte-range locks on NFS, so it also works across nodes
  there. Not on every shared filesystem (GPFS, Lustre without `-o flock`): a sweep checks
  before it starts (`snakesweep.record.fs_check`), and a PostgreSQL server
  (`snakesweep.record.postgres`) keeps the sweep there instead.
  Takers wait for it in turn, in order of arrival (`snakesweep.record.turns`, with two more
  files: `<log>.ticket` and `<log>.queue`).

The store knows nothing about sweeps; `snakesweep.record.state` gives the events their meaning.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import time
import weakref
import zlib
from collections.abc import Iterator
from pathlib import Path

from snakesweep.record.turns import BACKGROUND, URGENT, Turns

log = logging.getLogger(__name__)

SYNC_SECONDS = 1.0  # durable appends reach the disk within this time (see `EventLog.locked`)
WAIT_POLL_SECONDS = 0.1  # how often `EventLog.wait` looks at the log's size


def encode(event: dict) -> bytes:
    body = json.dumps(event, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return f"{zlib.crc32(body.encode()):08x} {body}\n".encode()


def _checked_body(line: bytes) -> bytes | None:
    """The JSON of a line without its newline, if its checksum (as `encode` writes it) matches."""
    body = line[9:]
    try:
        if line[8:9] == b" " and int(line[:8], 16) == zlib.crc32(body):
            return body
    except ValueError:  # not hex
        pass
    return None


def _parse(body: bytes) -> dict | None:
    try:
        event = json.loads(body.decode())
    except ValueError:  # UnicodeDecodeError is one too
        return None
    return event if isinstance(event, dict) else None


def decode_all(data: bytes, where: str = "the log") -> list[dict]:
    """The events of the complete lines `data`, skipping (with a warning) corrupted ones.

    Every agent parses every line of the log, so this is the controller's hottest loop, and it
    parses all the bodies with one `json.loads`, as one JSON array: a third cheaper than a call
    per line. Only if that does not give exactly one object per line (a line with a valid
    checksum that is not one object) are the lines parsed one by one, each judged on its own."""
    bodies = [_checked_body(line) for line in data.splitlines()]
    intact = [b for b in bodies if b is not None]
    if len(intact) < len(bodies):
        log.warning("%s: %d corrupted line(s) skipped", where, len(bodies) - len(intact))
    try:
        events = json.loads((b"[" + b",".join(intact) + b"]").decode())
    except ValueError:
        events = []
    if len(events) == len(intact) and all(type(e) is dict for e in events):
        return events
    parsed = [_parse(body) for body in intact]
    if None in parsed:
        log.warning("%s: %d line(s) that are not an event skipped", where, parsed.count(None))
    return [e for e in parsed if e is not None]


def read_events(path: str | os.PathLike) -> list[dict]:
    """Every intact event of the log at `path`, without the lock and without creating anything:
    for read-only views of a sweep (`snakesweep status`, `verify`, the aggregate) that must
    work on a read-only mount and never slow the agents down."""
    return _read_from(Path(path), 0)[0]


class ReplacedLog(Exception):
    """The log is shorter than what was already read from it: someone replaced the file."""


class EventLog:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock_path = Path(str(self.path) + ".lock")
        self._turns = Turns(self.path)
        self._holding = threading.local()  # per thread: an agent's heartbeat thread locks too
        self._dirty = threading.Event()  # durable appends not yet fsynced
        self._syncer: threading.Thread | None = None
        self._syncer_lock = threading.Lock()

    @contextlib.contextmanager
    def locked(self, blocking: bool = True, urgent: bool = False) -> Iterator[bool]:
        """Hold the exclusive lock: read, decide and append as one step. Yields True, or with
        `blocking=False` False at once when the lock is taken (or an urgent taker is waiting).

        `urgent` is for a step the agent waits on with nothing else to do (a claim, an early
        stopping decision); it goes before records (a finish, a heartbeat). Takers wait their
        turn, first come, first served, in those two lines (`snakesweep.record.turns`), and
        sleep in the kernel until it comes. `filelock` polls instead (try, sleep, retry, at
        about 0.6 ms of Python per try); with 64 agents on 2 cores the pollers took the CPU the
        lock's holder needed, and claims waited seconds (`benchmarks/controller_scale.py`). The
        lock itself is an `flock(2)`, which the kernel releases when its holder dies, so a
        crashed agent never leaves the store locked.

        Durable appends are fsynced by a background thread within `SYNC_SECONDS`, not by the
        appending call: with dozens of agents, an fsync per finished run made every agent queue
        at the disk. So a power cut loses at most the last second of events; the runs they were
        about are handed out again and, being deterministic, end the same way. `sync()` forces
        it (an agent calls it when it leaves).
        """
        fd = self._lock_fd()
        self._holding.unsynced = False
        with contextlib.ExitStack() as turn:
            if not self._take(fd, blocking, urgent, turn):
                yield False
                return
            try:
                self._holding.value = True
                yield True
            finally:
                self._holding.value = False
                fcntl.flock(fd, fcntl.LOCK_UN)
        if self._holding.unsynced:
            self._dirty.set()
            self._start_syncer()

    def _take(self, fd: int, blocking: bool, urgent: bool, turn: contextlib.ExitStack) -> bool:
        """Take the `flock` on `fd`, in turn; `turn` holds this taker's place until it lets go.
        An urgent taker takes a free lock at once; a background one never jumps the lines."""
        if not self._turns.on:
            return _flock(fd, blocking)
        if urgent:
            turn.enter_context(self._turns.urgent())
            if _flock(fd, blocking=False):
                return True
        elif not blocking:
            return not self._turns.urgent_waiting() and _flock(fd, blocking=False)
        if not blocking:
            return False
        turn.enter_context(self._turns.turn(URGENT if urgent else BACKGROUND))
        return _flock(fd, blocking=True)

    def _start_syncer(self) -> None:
        with self._syncer_lock:
            if self._syncer is None:
                self._syncer = threading.Thread(
                    target=self._sync_loop, name="store-fsync", daemon=True
                )
                self._syncer.start()

    def _sync_loop(self) -> None:
        while True:
            self._dirty.wait()
            time.sleep(SYNC_SECONDS)  # gather a second's appends into one fsync
            self.sync()

    def _lock_fd(self) -> int:
        """This thread's descriptor of the lock file, opened once. Each thread needs its own:
        flock excludes open file descriptions, so two threads of one agent (its loop and its
        heartbeat) exclude each other only through two descriptors. The kernel closes them, and
        so releases any lock, when the process dies."""
        fd = getattr(self._holding, "fd", None)
        if fd is None:
            fd = self._holding.fd = os.open(
                self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644
            )
            weakref.finalize(self, os.close, fd)
        return fd

    def sync(self) -> None:
        """Put every appended event on disk now (an agent calls it when it leaves)."""
        self._dirty.clear()
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:  # nothing was ever written
            return
        try:
            os.fsync(fd)  # any descriptor of the file flushes all of its written pages
        finally:
            os.close(fd)

    def size(self) -> int:
        """The log's length in bytes: a cheap way (no lock, no parsing) to see that it changed."""
        try:
            return os.stat(self.path).st_size
        except FileNotFoundError:
            return 0

    def wait(self, cursor: int, seconds: float) -> bool:
        """Sleep until the log has grown past byte `cursor`, or `seconds` pass; True if it has.
        It looks at the log's size every WAIT_POLL_SECONDS: no lock, no parsing."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(WAIT_POLL_SECONDS, left))
            if self.size() != cursor:
                return True
        return False

    def read(self) -> list[dict]:
        """Every intact event, in order. Safe without the lock: a torn tail is simply skipped."""
        return self.read_from(0)[0]

    def read_from(self, offset: int) -> tuple[list[dict], int]:
        """The intact events after byte `offset`, and the offset after the last complete line
        (see `_read_from`)."""
        return _read_from(self.path, offset)

    def append(self, *events: dict, durable: bool = True) -> int:
        """Append events; call only while holding `locked()`. Returns the log's new end offset.
        Durable ones are fsynced within `SYNC_SECONDS` (see `locked`); `durable=False` is for
        events whose loss in a power cut is harmless and that a later fsync covers anyway."""
        if not getattr(self._holding, "value", False):
            raise RuntimeError("EventLog.append needs the lock: use `with log.locked():`")
        payload = b"".join(encode(e) for e in events)
        with open(self.path, "ab+") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size:
                handle.seek(size - 1)
                if handle.read(1) != b"\n":
                    self._cut_torn_tail(handle, size)
            handle.seek(0, os.SEEK_END)
            handle.write(payload)
            handle.flush()
            self._holding.unsynced = self._holding.unsynced or durable
            return handle.tell()

    def _cut_torn_tail(self, handle, size: int) -> None:
        handle.seek(0)
        keep = handle.read().rfind(b"\n") + 1
        log.warning(
            "%s: a write was torn by a crash; dropping its %d bytes", self.path, size - keep
        )
        handle.truncate(keep)


def _flock(fd: int, blocking: bool) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def _read_from(path: Path, offset: int) -> tuple[list[dict], int]:
    """The intact events after byte `offset`, and the offset after the last complete line.

    The log only grows (a torn tail that is cut off was never a complete line, so no reader
    consumed it), which lets a reader that keeps its offset parse each line once. A log
    shorter than `offset` was replaced: `ReplacedLog` says to start over from offset 0.
    """
    try:
        with open(path, "rb") as handle:
            if handle.seek(0, os.SEEK_END) < offset:
                raise ReplacedLog(path)
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return [], 0
    complete = data.rfind(b"\n") + 1  # the last piece has no newline: torn or in flight
    return decode_all(data[:complete], f"{path} after byte {offset}"), offset + complete
