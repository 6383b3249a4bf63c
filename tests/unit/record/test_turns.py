"""Turns at the store's lock: order of arrival within a line, urgent takers first, and no
taker stuck behind one that died or behind a counter that was reset."""

import errno
import fcntl
import logging
import signal
import struct
import subprocess
import sys
import threading
import time

import pytest

from snakesweep.record import events
from snakesweep.record.store import EventLog
from snakesweep.record.turns import BACKGROUND, URGENT, Turns

pytestmark = pytest.mark.skipif(
    not Turns.available, reason="needs open-file-description locks (Linux)"
)


def _drawn(log: EventLog, line: int) -> int:
    """How many numbers of `line` were drawn so far."""
    raw = (log.path.parent / f"{log.path.name}.ticket").read_bytes()[8 * line : 8 * line + 8]
    return struct.unpack("<Q", raw)[0] if len(raw) == 8 else 0


def _wait_until(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _taker(log, name, order, urgent=False):
    def take():
        with log.locked(urgent=urgent):  # each thread has its own descriptors: they queue apart
            order.append(name)

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    return thread


def test_takers_get_the_lock_in_order_of_arrival(tmp_path):
    log, order, threads = EventLog(tmp_path / "store.log"), [], []
    with log.locked():  # this thread draws number 0 and holds the lock
        for i in range(6):
            threads.append(_taker(log, i, order))
            _wait_until(lambda i=i: _drawn(log, BACKGROUND) == i + 2)  # taker i is in the line
        time.sleep(0.05)
        assert order == []
    with log.locked():  # back at once, as an agent is after its run's finish: behind the others
        order.append("again")
    for thread in threads:
        thread.join(timeout=10)
    assert order == [*range(6), "again"]


def test_urgent_takers_go_before_records_that_came_first(tmp_path):
    log, order, threads = EventLog(tmp_path / "store.log"), [], []
    with log.locked():
        for name in ("finish-1", "finish-2"):
            threads.append(_taker(log, name, order))
            _wait_until(lambda: _drawn(log, BACKGROUND) == len(threads) + 1)
        for name in ("claim-1", "claim-2"):
            threads.append(_taker(log, name, order, urgent=True))
            _wait_until(lambda: _drawn(log, URGENT) == len(threads) - 2)
    for thread in threads:
        thread.join(timeout=10)
    assert order == ["claim-1", "claim-2", "finish-1", "finish-2"]


def test_a_record_that_will_not_wait_steps_aside_for_an_urgent_taker(tmp_path):
    log, present, leave = EventLog(tmp_path / "store.log"), threading.Event(), threading.Event()

    def urgent_taker_arrives():
        with Turns(log.path).urgent():  # arrived, not yet holding the lock
            present.set()
            leave.wait(10)

    thread = threading.Thread(target=urgent_taker_arrives, daemon=True)
    thread.start()
    assert present.wait(10)
    with log.locked(blocking=False) as got:
        assert not got  # the lock is free, but it is the urgent taker's
    leave.set()
    thread.join(timeout=10)
    with log.locked(blocking=False) as got:
        assert got


TAKE_AND_SAY = """
import sys
from snakesweep.record import events
from snakesweep.record.store import EventLog
with EventLog(sys.argv[1]).locked():
    print("got it", flush=True)
"""


def test_a_taker_that_dies_in_the_line_does_not_hold_up_the_next(tmp_path):
    log = EventLog(tmp_path / "store.log")
    take = [sys.executable, "-c", TAKE_AND_SAY, str(log.path)]
    with log.locked():
        doomed = subprocess.Popen(take, stdout=subprocess.PIPE, text=True)
        _wait_until(lambda: _drawn(log, BACKGROUND) == 2)
        behind = subprocess.Popen(take, stdout=subprocess.PIPE, text=True)
        _wait_until(lambda: _drawn(log, BACKGROUND) == 3)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
        assert behind.poll() is None  # still waiting: the lock is held
    assert behind.communicate(timeout=10)[0] == "got it\n"


def test_a_reset_counter_costs_order_not_progress(tmp_path):
    log, order = EventLog(tmp_path / "store.log"), []
    turns = Turns(log.path)
    with turns.turn(BACKGROUND):  # holds number 0
        (tmp_path / "store.log.ticket").write_bytes(b"")  # someone emptied the counter
        late = _taker(log, "late", order)  # draws number 0 again: its byte is taken
        late.join(timeout=10)
    assert order == ["late"]


def test_a_filesystem_that_refuses_byte_range_locks_gets_the_bare_lock(
    tmp_path, monkeypatch, caplog
):
    def refuse(*args):  # what NFS without a lock manager answers
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "fcntl", refuse)
    log = EventLog(tmp_path / "store.log")
    with caplog.at_level(logging.WARNING):
        for urgent in (True, False, True):
            with log.locked(urgent=urgent) as got:
                assert got
                log.append({**events.heartbeat("r"), "time": 0.0})
    assert len(log.read()) == 3
    assert caplog.text.count("refuses byte-range locks") == 1  # said once, then the bare flock
