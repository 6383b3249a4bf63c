"""The store on a PostgreSQL server: for sweeps whose agents run on the nodes of a cluster.

The file store's `flock` holds across nodes only on some filesystems
(`snakesweep.record.fs_check`); a database server holds its locks for every client. Here the
journal is done the way the database means it to be:

- each event is a row of `snakesweep_events`, `(sweep, pos, line)`: `pos` numbers the sweep's
  events 1, 2, 3, ..., and `line` is the file log's line, `<crc32> <json>\\n`, so a sweep reads
  back, and `verify` checks it, exactly as from a file; `(sweep, pos)` is the primary key;
- a step (read, decide, append) is one transaction under `pg_advisory_xact_lock` of a key made
  from the sweep's id: PostgreSQL queues the takers in order and releases the lock at commit,
  so a sweep's rows are committed in `pos` order, and a reader that keeps the last `pos` it saw
  never misses one. Two sweeps on one database have two keys and never see each other's rows;
- an append sends `NOTIFY` on the sweep's channel, delivered at commit; an agent told to wait
  `LISTEN`s for it instead of polling;
- a step's appends are on the server's disk before the step returns: a claim before its run
  starts, a finish before the agent goes on. The lock, though, is not held for the disk: the
  step commits with `synchronous_commit` off, which lets the next taker in at once, and then,
  outside the lock, a tiny transaction with an id of its own and `synchronous_commit` on
  flushes the server's WAL up to and past the step's commit. Waiting for the flush under the
  lock made every step hold it for an fsync (2.7 ms on the test machine), and 8 agents' claims
  took 56 ms at the median (`benchmarks/controller_scale.py`); concurrent agents' flushes
  share fsyncs, as PostgreSQL's group commit does.

A lost connection (the server restarted) is taken again with backoff: before a step starts,
transparently; in the middle of one, the step's transaction is gone, and `StoreLost` tells the
controller to read the store again and take the step anew.

Each thread has its own connection (an agent's loop and its heartbeat thread), autocommit
outside its steps.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import psycopg

from snakesweep.record import pg_connect
from snakesweep.record.journal import StoreLost
from snakesweep.record.store import decode_all, encode

T = TypeVar("T")

TABLE = "snakesweep_events"
_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} "
    "(sweep text NOT NULL, pos bigint NOT NULL, line text NOT NULL, PRIMARY KEY (sweep, pos))",
)
_NO_WAIT_FOR_DISK = "set_config('synchronous_commit', 'off', true)"  # for this transaction
# A transaction with an id commits with a record of its own; with `synchronous_commit` on (the
# server's default) its commit returns once the WAL is on disk up to that record, and so every
# earlier commit is too. Autocommit: the statement is its own transaction.
_FLUSH = "SELECT pg_current_xact_id()"
_SCHEMA_KEY = 0x736E616B65  # the advisory lock that serialises creating the table
_READ = f"SELECT pos, line FROM {TABLE} WHERE sweep = %s AND pos > %s ORDER BY pos"
_APPEND = (
    f"INSERT INTO {TABLE} (sweep, pos, line) "
    "SELECT %s, %s + n, line FROM unnest(%s::text[]) WITH ORDINALITY AS l(line, n)"
)


def split(location: str) -> tuple[str, str]:
    """The server's URL and the sweep's id, from a location `<url>#<sweep id>`."""
    url, _, sweep = location.rpartition("#")
    return url, sweep


def _digest(sweep: str) -> bytes:
    return hashlib.sha256(sweep.encode()).digest()


def lock_key(sweep: str) -> int:
    """The sweep's advisory lock: a signed 64-bit number, the same in every process."""
    return int.from_bytes(_digest(sweep)[:8], "big", signed=True)


def channel(sweep: str) -> str:
    return f"snakesweep_{_digest(sweep).hex()[:24]}"


def _rows_to_events(rows: list, cursor: int, where: str) -> tuple[list[dict], int]:
    if not rows:
        return [], cursor
    return decode_all("".join(line for _, line in rows).encode(), where), rows[-1][0]


class PostgresStore:
    def __init__(self, location: str):
        self.location = location
        self.url, self.sweep = split(location)
        self._key, self._channel = lock_key(self.sweep), channel(self.sweep)
        self._local = threading.local()

    def _conn(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._local.conn = pg_connect.connect_once(self.url)
            conn.execute("SET synchronous_commit = on")  # what `_FLUSH` relies on
        return conn

    def _drop(self) -> None:
        self._local.cursor = 0  # whatever this thread appended last may not have been kept
        conn, self._local.conn = getattr(self._local, "conn", None), None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def _retrying(self, step: Callable[[psycopg.Connection], T]) -> T:
        """`step` on this thread's connection, taken again with backoff while the server is
        away; only for steps that can be repeated (reads, and taking the lock). A missing right
        is one line naming it."""
        try:
            return self._retrying_step(step)
        except psycopg.errors.InsufficientPrivilege as err:
            raise pg_connect.refused(self.url, err) from None

    def _retrying_step(self, step: Callable[[psycopg.Connection], T]) -> T:
        try:
            return step(self._conn())
        except psycopg.OperationalError as err:
            lost = err
        for pause in pg_connect.pauses(self.url, lost):
            self._drop()
            time.sleep(pause)
            try:
                return step(self._conn())
            except psycopg.OperationalError:
                continue
        raise AssertionError("unreachable: pauses() raises when patience runs out")

    @contextlib.contextmanager
    def locked(self, blocking: bool = True, urgent: bool = False) -> Iterator[bool]:
        """Hold the sweep's lock in a transaction; its appends commit when the block ends.
        Takers queue in PostgreSQL's lock manager, first come, first served, so `urgent` (the
        file store's turns) has nothing to add.

        Each round trip under the lock is a wait for the server and then for a CPU (with 64
        agents on 2 cores, the wait for a CPU is the longer one), so statements go together in
        pipelines: BEGIN, the lock and the read the step will ask for in one; COMMIT and the
        flush in one (the lock goes at COMMIT, before the flush)."""
        got = self._retrying(lambda conn: self._begin(conn, blocking))
        try:
            self._local.holding, self._local.appended = got, False
            yield got
            conn = self._conn()
            with conn.pipeline():
                if self._local.appended:
                    self._send_appends(conn)
                conn.execute("COMMIT")  # without waiting for the disk
                if self._local.appended:
                    conn.execute(_FLUSH)  # now wait for it, outside the lock
        except psycopg.errors.InsufficientPrivilege as err:
            self._rollback()
            raise pg_connect.refused(self.url, err) from None
        except psycopg.OperationalError as err:
            self._drop()  # the transaction died with the connection: nothing to undo
            raise StoreLost(f"{pg_connect.server(self.url)}: {err}") from err
        except BaseException:
            self._rollback()
            raise
        finally:
            self._local.holding, self._local.prefetched = False, None

    def _rollback(self) -> None:
        self._local.cursor = 0  # the appends were not kept: `append` moved the cursor past them
        conn = getattr(self._local, "conn", None)
        if conn is not None and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            try:
                conn.execute("ROLLBACK")
            except psycopg.Error:
                self._drop()

    def _begin(self, conn: psycopg.Connection, blocking: bool) -> bool:
        """BEGIN, take the lock (or try to), and read what is new since this thread's last
        read: in one pipeline. The read runs once the lock is held, so it sees every step
        before."""
        take = "pg_advisory_xact_lock" if blocking else "pg_try_advisory_xact_lock"
        cursor = getattr(self._local, "cursor", 0)
        try:
            with conn.pipeline():
                conn.execute("BEGIN")
                lock = conn.execute(f"SELECT {_NO_WAIT_FOR_DISK}, {take}(%s)", (self._key,))
                read = conn.execute(_READ, (self.sweep, cursor))
            got = blocking or bool(lock.fetchone()[1])
            rows = read.fetchall()
            self._local.prefetched = (cursor, rows) if got else None
            self._local.end = rows[-1][0] if rows else cursor  # the sweep's last row
        except psycopg.OperationalError:
            raise
        except BaseException:
            self._rollback()
            raise
        return got

    def read_from(self, cursor: int) -> tuple[list[dict], int]:
        """The sweep's events after position `cursor`, and the last one's position."""
        prefetched = getattr(self._local, "prefetched", None)
        if prefetched is not None and prefetched[0] == cursor:
            rows, self._local.prefetched = prefetched[1], None
        else:
            rows = self._retrying(lambda conn: conn.execute(_READ, (self.sweep, cursor)).fetchall())
        events, self._local.cursor = _rows_to_events(
            rows, cursor, f"{self.location} after {cursor}"
        )
        return events, self._local.cursor

    def read(self) -> list[dict]:
        return self.read_from(0)[0]

    def append(self, *events: dict, durable: bool = True) -> int:
        """Append events in the step's transaction (call only inside `locked()`); the cursor
        after them. They are sent with the COMMIT, in its pipeline: the rows' positions follow
        the sweep's last row, which the lock's read found, so nothing waits for them here.
        Every step's appends are on the server's disk when `locked()` returns (see the module's
        docstring), so `durable` changes nothing here."""
        if not getattr(self._local, "holding", False):
            raise RuntimeError("PostgresStore.append needs the lock: use `with store.locked():`")
        if not self._local.appended:
            self._local.appended, self._local.lines = True, []
        self._local.lines.extend(encode(e).decode() for e in events)
        self._local.cursor = self._local.end + len(self._local.lines)
        return self._local.cursor

    def _send_appends(self, conn: psycopg.Connection) -> None:
        conn.execute(_APPEND, (self.sweep, self._local.end, self._local.lines))
        conn.execute("SELECT pg_notify(%s, '')", (self._channel,))

    def wait(self, cursor: int, seconds: float) -> bool:
        """Sleep until an append after row `cursor` commits, or `seconds` pass; True if there
        may be news. Listens only while waiting: a session that listens but does not read its
        notifications holds up the server's notification queue."""
        try:
            conn = self._conn()
            conn.execute(f"LISTEN {self._channel}")
            try:
                newer = f"SELECT EXISTS (SELECT 1 FROM {TABLE} WHERE sweep = %s AND pos > %s)"
                if conn.execute(newer, (self.sweep, cursor)).fetchone()[0]:
                    return True
                return any(True for _ in conn.notifies(timeout=seconds, stop_after=1))
            finally:
                conn.execute(f"UNLISTEN {self._channel}")
        except psycopg.OperationalError:
            self._drop()  # the next step reconnects, with backoff
            return True

    def sync(self) -> None:
        """Nothing to do: every commit is already on the server's disk."""


def prepare(location: str) -> bool:
    """Create the events table if it is not there; True if the sweep has events already.
    Run once, at registration: an unreachable server or a missing right is one line then."""
    url, sweep = split(location)
    with pg_connect.connect(url) as conn:
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_KEY,))
                for statement in _CREATE:
                    conn.execute(statement)
            found = conn.execute(
                f"SELECT EXISTS (SELECT 1 FROM {TABLE} WHERE sweep = %s)", (sweep,)
            )
            return bool(found.fetchone()[0])
        except psycopg.errors.InsufficientPrivilege as err:
            raise pg_connect.refused(url, err) from None


def read_all(location: str) -> list[dict]:
    """The sweep's events, for the read-only tools: none if the table is not there yet."""
    url, sweep = split(location)
    with pg_connect.connect(url) as conn:
        try:
            rows = conn.execute(_READ, (sweep, 0)).fetchall()
        except psycopg.errors.UndefinedTable:
            return []
        except psycopg.errors.InsufficientPrivilege as err:
            raise pg_connect.refused(url, err) from None
    return _rows_to_events(rows, 0, location)[0]
