"""Logging for workflow jobs: the job's log file and the terminal get the same lines, except
library chatter a user cannot act on, which only the log file gets (see NOT_FOR_CONSOLE).

`job_logging` also turns a `UserError`, and a full or read-only disk, into one line and a
non-zero exit, so a problem the user can fix never ends in a traceback.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import logging
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

from snakesweep.errors import UserError, describe_storage_error, is_storage_error

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# sweeps 0.3.0 declares its pydantic models in the v1 style; pydantic 2 warns about it each
# time the engine is imported. Nothing a user (or we) can act on, so it is dropped everywhere.
# Set on import: every workflow script imports this module before anything imports `sweeps`.
warnings.filterwarnings(
    "ignore", message="Valid config keys have changed in V2", category=UserWarning
)

# (logger, message) of library log lines that say nothing a user can act on: kept in the
# job's log file, for whoever debugs the engine, but not shown on the console.
NOT_FOR_CONSOLE = (
    # the grid engine was shown a run whose config lacks a swept parameter
    ("sweeps.grid_search", "grid_search_dedupe_incomplete_hash_tuple"),
)


class ConsoleFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return (record.name, record.msg) not in NOT_FOR_CONSOLE


def setup_logging(log_path: str | Path | None = None, level: int = logging.INFO) -> None:
    console = logging.StreamHandler(sys.stderr)
    console.addFilter(ConsoleFilter())
    handlers: list[logging.Handler] = [console]
    if log_path is not None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w", encoding="utf-8"))
    logging.basicConfig(level=level, format=FORMAT, handlers=handlers, force=True)


@contextlib.contextmanager
def job_logging(log_path: str | Path | None = None) -> Iterator[logging.Logger]:
    """The job's logging, and its exit: a problem the user can fix is one line and exit 1.

    At the process's exit, every object left is frozen out of the garbage collector: Python's
    shutdown otherwise runs full collections over all of them, 0.7 s per process once torch is
    imported and 1.6-1.9 s for a sweep agent here, after the job's outputs are written and
    closed, while the pipeline waits. It is registered first so it runs last among the exit
    handlers (logging's and wandb's still run before it); a test process calling this is not
    affected until it exits."""
    atexit.register(gc.freeze)
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
