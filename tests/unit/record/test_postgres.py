"""The PostgreSQL store against a real server (the `postgres` fixture): the journal's operations,
the same bytes as the file log, the lock, waiting on NOTIFY, two sweeps on one database, a
restart in the middle of a step, and one clear line for a server that cannot be had."""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time
import uuid

import psycopg
import pytest
from controller_helpers import claim, make_controller

from snakesweep.errors import UserError
from snakesweep.record import postgres, stores
from snakesweep.record.journal import StoreLost
from snakesweep.record.store import EventLog

SWEEP = {
    "method": "random",
    "metric": {"name": "val_loss", "goal": "minimize"},
    "parameters": {"learning_rate": {"min": 0.001, "max": 0.1}},
    "run_cap": 12,
}


@pytest.fixture
def location(postgres):
    """A fresh sweep's location on the test server, its table created."""
    where = stores.location_for(postgres.url, f"local-{uuid.uuid4().hex[:12]}")
    assert stores.prepare(where) is False
    return where


def test_events_read_back_after_a_cursor_as_the_file_log_writes_them(location, tmp_path):
    store, log = stores.open_store(location), EventLog(tmp_path / "events.log")
    batches = [[{"kind": "a", "n": 1}], [{"kind": "b", "x": 0.5}, {"kind": "c", "s": "é"}]]
    cursors = {store: [], log: []}
    for batch in batches:
        for journal in (store, log):
            with journal.locked() as got:
                assert got
                cursors[journal].append(journal.append(*batch))
    assert store.read() == log.read() == batches[0] + batches[1]
    for journal in (store, log):  # a reader that keeps its cursor gets each event once
        first, last = cursors[journal]
        assert journal.read_from(first) == (batches[1], last)
        assert journal.read_from(last) == ([], last)
    # the rows hold the file's lines byte for byte, checksum included
    url, sweep = postgres.split(location)
    with psycopg.connect(url) as conn:
        lines = conn.execute(
            "SELECT line FROM snakesweep_events WHERE sweep = %s ORDER BY pos", (sweep,)
        ).fetchall()
    assert "".join(line for (line,) in lines).encode() == (tmp_path / "events.log").read_bytes()
    assert stores.read_events(location) == log.read()
    assert stores.prepare(location) is True  # the sweep now continues


def test_two_sweeps_on_one_database_never_see_each_others_events(postgres):
    one, two = (stores.location_for(postgres.url, f"local-{uuid.uuid4().hex[:12]}") for _ in "ab")
    stores.prepare(one)
    first, second = make_controller(one, SWEEP), make_controller(two, SWEEP)
    claims = [claim(first, "a0"), claim(first, "a0"), claim(second, "b0")]
    assert [c.index for c in claims] == [0, 1, 0]
    assert {e["run"] for e in stores.read_events(two)} == {claims[2].run_id}
    assert len(stores.read_events(one)) == 2


def test_concurrent_agents_claim_each_config_exactly_once(location):
    claimed, lock = [], threading.Lock()

    def agent(name):
        controller = make_controller(location, SWEEP)
        while (got := claim(controller, name)) is not None:
            with lock:
                claimed.append(got.index)
            controller.finish(got.run_id, {"state": "finished", "summary": {"val_loss": 1.0}})

    threads = [threading.Thread(target=agent, args=(f"a{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(claimed) == list(range(SWEEP["run_cap"]))


def test_a_waiting_agent_is_woken_by_the_append_that_commits(location):
    store, other = stores.open_store(location), stores.open_store(location)
    cursor = store.read_from(0)[1]
    started = time.monotonic()
    assert store.wait(cursor, 0.3) is False
    assert time.monotonic() - started >= 0.29

    def append_soon():
        time.sleep(0.3)
        with other.locked():
            other.append({"kind": "news"})

    threading.Thread(target=append_soon).start()
    started = time.monotonic()
    assert store.wait(cursor, 10) is True
    assert time.monotonic() - started < 5


def test_a_step_cut_by_a_restart_keeps_nothing_and_the_next_one_reconnects(postgres, location):
    if postgres.restart is None:
        pytest.skip("the server is not ours to restart")
    store = stores.open_store(location)
    with store.locked():
        store.append({"kind": "kept"})
    with pytest.raises(StoreLost), store.locked():
        postgres.restart()
        store.append({"kind": "lost"})
    postgres.restart()  # and between steps: the next read reconnects, with backoff
    assert store.read() == [{"kind": "kept"}]
    controller = make_controller(location, SWEEP)
    assert claim(controller, "a0").index == 0


def test_an_unreachable_server_is_one_line_naming_host_and_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    where = stores.location_for(f"postgresql://nobody@127.0.0.1:{port}/db", "local-x")
    with pytest.raises(UserError) as err:
        stores.prepare(where)
    assert f"host 127.0.0.1 port {port}" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_url_with_a_password_is_refused_before_anything_is_written():
    with pytest.raises(UserError, match="PGPASSFILE") as err:
        stores.location_for("postgresql://u:hunter2@host/db", "local-x")
    assert "hunter2" not in str(err.value)
    with pytest.raises(UserError, match="sweep.store"):
        stores.location_for("mysql://u@host/db", "local-x")


def test_a_role_without_rights_is_one_line_naming_the_right(postgres, tmp_path, monkeypatch):
    if postgres.password is None:
        pytest.skip("the server is not ours: no role of our own to create")
    role, secret = f"weak_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{secret}'")
        conn.execute(f"REVOKE CREATE ON SCHEMA public FROM {role}")
    passfile = tmp_path / "pgpass"
    passfile.write_text(open(os.environ["PGPASSFILE"]).read() + f"*:*:*:{role}:{secret}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    url = postgres.url.replace("sweeper@", f"{role}@")
    with pytest.raises(UserError, match="permission denied") as err:
        stores.prepare(stores.location_for(url, "local-x"))
    assert "\n" not in str(err.value)
    # and one that may create nothing, on a table that is there, but may not write to it
    where = stores.location_for(postgres.url, f"local-{uuid.uuid4().hex[:12]}")
    stores.prepare(where)
    with pytest.raises(UserError, match="permission denied for table snakesweep_events"):
        make_controller(where.replace("sweeper@", f"{role}@"), SWEEP).next("a0")


def test_lock_keys_and_channels_are_the_same_in_every_process():
    assert postgres.lock_key("local-abc") == postgres.lock_key("local-abc")
    assert postgres.lock_key("local-abc") != postgres.lock_key("local-abd")
    assert -(2**63) <= postgres.lock_key("local-abc") < 2**63
    keys = {postgres.channel(f"s{i}") for i in itertools.islice(itertools.count(), 100)}
    assert len(keys) == 100 and all(k.isidentifier() and len(k) < 64 for k in keys)
