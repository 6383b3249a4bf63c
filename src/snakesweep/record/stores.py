"""Where a sweep's events are kept: the store interface, and the choice between its two kinds.

Every guarantee of a sweep (each config handed out once, crashed runs requeued, a search that
replays, `snakesweep verify`) rests on one journal of events with an exclusive lock, read after
a cursor. `Store` is that journal's interface, as optuna's journal backends have it:

- `read_from(cursor)`: the events after `cursor`, and the cursor after them;
- `locked()`: hold the sweep's lock, so that a read, a decision and its `append` are one step;
- `wait(cursor, seconds)`: sleep until there is news after `cursor`, or `seconds` pass.

Two kinds implement it, chosen by the setting `sweep.store`:
- `file` (the default): the log under `results/sweep/stores/`, locked with `flock`
  (`snakesweep.record.store`), for one machine or a filesystem whose locks hold across nodes;
- a `postgresql://` URL: rows of a table on a PostgreSQL server (`snakesweep.record.postgres`),
  for the nodes of a cluster.

Both write each event as the same bytes, `<crc32> <json>`, so a sweep's record reads the same,
and `verify` proves it the same way, whichever kept it.

A sweep's `location` (`SweepRecord.store`) is a path for a file store, or the server's URL
without a password, with the sweep's id as its fragment: `postgresql://u@host:5432/db#<id>`.
"""

from __future__ import annotations

import os
from pathlib import Path

from snakesweep import paths
from snakesweep.errors import UserError
from snakesweep.record import store as file_store
from snakesweep.record.journal import Store

FILE = "file"  # the `sweep.store` setting that picks the file log
SCHEMES = ("postgresql://", "postgres://")


def is_database(location: str | os.PathLike) -> bool:
    return str(location).startswith(SCHEMES)


def location_for(setting: str, sweep_id: str) -> str:
    """Where the sweep `sweep_id` keeps its events, for the setting `sweep.store`."""
    if setting == FILE:
        return paths.store_path(sweep_id)
    if not is_database(setting):
        raise UserError(f"sweep.store: {FILE} or a postgresql:// URL, not {setting!r}")
    from snakesweep.record import pg_connect

    return f"{pg_connect.redacted(setting)}#{sweep_id}"


def in_results(results: str | Path, location: str) -> str:
    """`location` as seen from a results folder that may have been moved (see
    `paths.under_results`); a database's is the same from anywhere."""
    return location if is_database(location) else str(paths.under_results(results, location))


def open_store(location: str | os.PathLike) -> Store:
    if is_database(location):
        from snakesweep.record.postgres import PostgresStore

        return PostgresStore(str(location))
    return file_store.EventLog(location)


def prepare(location: str) -> bool:
    """Make the store ready for its first event (the folder, or the server's table); True if
    it holds events already (the sweep continues)."""
    if is_database(location):
        from snakesweep.record.postgres import prepare as prepare_database

        return prepare_database(location)
    path = Path(location)
    continued = path.exists() and path.stat().st_size > 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return continued


def exists(location: str) -> bool:
    """Whether the store is there (a database's is checked when it is read)."""
    return is_database(location) or Path(location).exists()


def read_events(location: str | os.PathLike) -> list[dict]:
    """Every intact event, without the lock and creating nothing: for the read-only tools."""
    if is_database(location):
        from snakesweep.record.postgres import read_all

        return read_all(str(location))
    return file_store.read_events(location)
