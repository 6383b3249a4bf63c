"""The local controller's shared state: one append-only log of events, guarded by a file lock.

Many agent processes, on one machine or on the nodes of a cluster, share one store on a shared
filesystem. Two properties make that safe:

- Every change is one appended line, `<crc32> <json>\\n`, written under an exclusive lock and
  fsynced. A process killed mid-write leaves at most one torn last line; readers ignore a line
  whose checksum does not match, and the next writer cuts the torn tail off before appending.
  The log is never rewritten, so no finished run can be lost by a crash.
- The lock is `filelock.FileLock`, i.e. `flock(2)`, which the kernel releases when the holder
  dies, and which Linux maps to POSIX byte-range locks on NFS, so it also works across nodes.

The store knows nothing about sweeps; `snakesweep.sweep.state` gives the events their meaning.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import zlib
from pathlib import Path
from typing import Iterator

from filelock import FileLock

log = logging.getLogger(__name__)


def encode(event: dict) -> bytes:
    body = json.dumps(event, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return f"{zlib.crc32(body.encode()):08x} {body}\n".encode()


def decode(line: bytes) -> dict | None:
    """The event on one complete line, or None if the line is torn or corrupted."""
    try:
        text = line.decode()
        crc, body = text.rstrip("\n").split(" ", 1)
        if int(crc, 16) != zlib.crc32(body.encode()):
            return None
        event = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None
    return event if isinstance(event, dict) else None


class ReplacedLog(Exception):
    """The log is shorter than what was already read from it: someone replaced the file."""


class EventLog:
    def __init__(self, path: str | os.PathLike, lock_timeout: float = 300.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(self.path) + ".lock", timeout=lock_timeout)

    @contextlib.contextmanager
    def locked(self) -> Iterator["EventLog"]:
        """Hold the exclusive lock: read, decide and append as one step."""
        with self._lock:
            yield self

    def read(self) -> list[dict]:
        """Every intact event, in order. Safe without the lock: a torn tail is simply skipped."""
        return self.read_from(0)[0]

    def read_from(self, offset: int) -> tuple[list[dict], int]:
        """The intact events after byte `offset`, and the offset after the last complete line.

        The log only grows (a torn tail that is cut off was never a complete line, so no reader
        consumed it), which lets a reader that keeps its offset parse each line once. A log
        shorter than `offset` was replaced: `ReplacedLog` says to start over from offset 0.
        """
        try:
            with open(self.path, "rb") as handle:
                if handle.seek(0, os.SEEK_END) < offset:
                    raise ReplacedLog(self.path)
                handle.seek(offset)
                data = handle.read()
        except FileNotFoundError:
            return [], 0
        complete = data.rfind(b"\n") + 1  # the last piece has no newline: torn or in flight
        events = []
        for line in data[:complete].splitlines(keepends=True):
            event = decode(line)
            if event is None:
                log.warning("%s: a corrupted line after byte %d was skipped", self.path, offset)
                continue
            events.append(event)
        return events, offset + complete

    def append(self, *events: dict) -> None:
        """Append events; call only while holding `locked()`."""
        if not self._lock.is_locked:
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
            os.fsync(handle.fileno())

    def _cut_torn_tail(self, handle, size: int) -> None:
        handle.seek(0)
        keep = handle.read().rfind(b"\n") + 1
        log.warning("%s: a write was torn by a crash; dropping its %d bytes", self.path, size - keep)
        handle.truncate(keep)
