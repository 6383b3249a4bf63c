"""Write files so a reader never sees half of one.

Outputs are written to a temporary file in the same directory, flushed to disk and renamed over
the target. A crash or an error at any instant leaves either the old file or the new one, never
a torn one that Snakemake (or the next stage) would take for finished.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file next to `path`; on success it replaces `path`, on error it is
    removed."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as err:
        raise _naming(err, target) from None
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; outputs get the usual mode
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise _naming(err, target) from None
        raise


def _naming(error: OSError, target: Path) -> OSError:
    """The same error, naming the output it was for (a failed write() names no file, a failed
    mkstemp names a temporary one)."""
    return type(error)(error.errno, error.strerror, str(target)) if error.errno else error


def write_json(path: str | os.PathLike, obj: object) -> None:
    """Canonical JSON (sorted keys, fixed indent, trailing newline): equal data, equal bytes."""
    text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    with atomic_write(path, "w") as handle:
        handle.write(text)
