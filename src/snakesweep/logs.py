"""Logging for workflow jobs: the job's log file and the terminal get the same lines.

`job_logging` also turns a `UserError`, and a full or read-only disk, into one line and a
non-zero exit, so a problem the user can fix never ends in a traceback.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import Iterator

from snakesweep.errors import UserError, describe_storage_error, is_storage_error

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_path: str | Path | None = None, level: int = logging.INFO) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path is not None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w", encoding="utf-8"))
    logging.basicConfig(level=level, format=FORMAT, handlers=handlers, force=True)


@contextlib.contextmanager
def job_logging(log_path: str | Path | None = None) -> Iterator[logging.Logger]:
    setup_logging(log_path)
    log = logging.getLogger("snakesweep")
    try:
        yield log
    except UserError as err:
        log.error("%s", err)
        logging.shutdown()
        sys.exit(1)
    except OSError as err:
        if not is_storage_error(err):
            log.exception("unexpected error")
            logging.shutdown()
            raise
        log.error("%s", describe_storage_error(err))
        logging.shutdown()
        sys.exit(1)
    except Exception:
        log.exception("unexpected error")
        logging.shutdown()
        raise
