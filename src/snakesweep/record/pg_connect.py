"""Connections to the PostgreSQL store's server: from the setting's URL or libpq's environment,
never with a password in the URL, with one clear line when the server cannot be had, and with
backoff while it restarts.

A password in `sweep.store` would be copied to `sweep.json`, to Snakemake's record of the
config, to logs and to process listings; so a URL that holds one is refused, and the password is
left to libpq's own means: `PGPASSFILE` or `~/.pgpass` (mode 0600), a service file
(`PGSERVICE`), or `PGPASSWORD` in the environment. The rest of the connection may come from the
environment too (`PGHOST`, `PGPORT`, `PGUSER`, `PGDATABASE`): `postgresql://` alone is a URL.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Iterator

import psycopg
from psycopg import conninfo

from snakesweep.errors import UserError

log = logging.getLogger(__name__)

RECONNECT_SECONDS = 300.0  # how long an agent keeps trying to reach a server that went away
FIRST_PAUSE, LONGEST_PAUSE = 0.1, 5.0  # the backoff between tries, doubling from the first
CONNECT_TIMEOUT = 10  # seconds, for one try


def _parts(url: str) -> dict:
    try:
        return conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as err:
        raise UserError(f"sweep.store: not a PostgreSQL URL: {_first_line(err)}") from None


def redacted(url: str) -> str:
    """`url`, checked: one that holds a password is refused (see the module's docstring)."""
    if "password" in _parts(url):
        raise UserError(
            "sweep.store: the URL holds a password, which would be written to sweep.json and "
            "the logs; give it in PGPASSFILE (~/.pgpass), a PGSERVICE file or PGPASSWORD instead"
        )
    return url


def server(url: str) -> str:
    """'host H port P' of `url`, filled in from libpq's environment as libpq does."""
    parts = _parts(url)
    host = parts.get("host") or os.environ.get("PGHOST") or "the local socket"
    port = parts.get("port") or os.environ.get("PGPORT") or "5432"
    if parts.get("service") or os.environ.get("PGSERVICE"):
        return f"service {parts.get('service') or os.environ['PGSERVICE']}"
    return f"host {host} port {port}"


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def unreachable(url: str, err: Exception) -> UserError:
    return UserError(
        f"sweep.store: cannot reach the PostgreSQL server at {server(url)}: {_first_line(err)}"
    )


def refused(url: str, err: Exception) -> UserError:
    """The role lacks a right: PostgreSQL's own line names it (`permission denied for ...`)."""
    return UserError(f"sweep.store: the PostgreSQL server at {server(url)}: {_first_line(err)}")


def connect_once(url: str) -> psycopg.Connection:
    """One autocommit connection, one try; `psycopg.OperationalError` if it fails."""
    return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)


def connect(url: str) -> psycopg.Connection:
    """One autocommit connection, one try; a server that cannot be reached, or refuses the role,
    is one line naming it."""
    try:
        return connect_once(url)
    except psycopg.errors.InsufficientPrivilege as err:
        raise refused(url, err) from None
    except psycopg.OperationalError as err:
        raise unreachable(url, err) from None


def pauses(url: str, err: Exception, patience: float = RECONNECT_SECONDS) -> Iterator[float]:
    """The pauses between tries after losing the server (`err`): doubling, and for `patience`
    seconds in all; then one line naming the server."""
    log.warning("lost the PostgreSQL server at %s (%s); reconnecting", server(url), err)
    deadline = time.monotonic() + patience
    for tries in itertools.count():
        pause = min(LONGEST_PAUSE, FIRST_PAUSE * 2**tries)
        if time.monotonic() + pause > deadline:
            raise unreachable(url, err)
        yield pause
