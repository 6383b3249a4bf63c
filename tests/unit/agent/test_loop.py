"""The agent loop on a real store: an agent with nothing left to hand out waits while another
agent's run is in flight, so that the run, if its agent has died, finds a taker."""

import threading
import time

from controller_helpers import claim, make_controller

from snakesweep.agent.loop import run_agent
from snakesweep.record.state import fold
from snakesweep.record.store import EventLog
from snakesweep.sweep.decide import Exhausted, Wait

SWEEP = {
    "method": "grid",
    "metric": {"name": "val_accuracy", "goal": "maximize"},
    "parameters": {"learning_rate": {"values": [0.1]}},
}


DONE = {"state": "finished", "summary": {"val_accuracy": 0.9}}  # a run's outcome


def _finish(claim, on_epoch):
    return DONE


def test_an_idle_agent_waits_for_a_dead_agents_run_and_takes_it(tmp_path):
    store = tmp_path / "store.log"
    held = claim(make_controller(store, SWEEP, 0), "dead")  # the grid's only config; its agent dies
    survivor = make_controller(store, SWEEP, 0, heartbeat_timeout=0.5)
    summary = run_agent(survivor, "survivor", 5, _finish, heartbeat_interval=0.1, wait_seconds=0.1)
    assert summary["runs"] == [{"run_id": held.run_id, "state": "finished", "attempt": 2}]
    run = fold(survivor.log.read())[held.run_id]
    assert run.state == "finished" and run.agents == ["dead", "survivor"]


def test_a_waiting_agent_leaves_as_soon_as_the_last_run_ends(tmp_path):
    store = tmp_path / "store.log"
    other = make_controller(store, SWEEP, 0)
    held = claim(other, "other")  # the grid's only config, in flight on a live agent
    waiter = make_controller(store, SWEEP, 0)
    threading.Timer(0.3, lambda: other.finish(held.run_id, DONE)).start()
    started = time.monotonic()
    summary = run_agent(waiter, "waiter", 5, _finish, heartbeat_interval=0.1, wait_seconds=30.0)
    assert summary["runs"] == [] and time.monotonic() - started < 5.0  # not the 30 s wait


def test_news_that_changes_nothing_does_not_end_a_wait(tmp_path):
    store = tmp_path / "store.log"
    other = make_controller(store, SWEEP, 0)
    held = claim(other, "other")
    waiter = make_controller(store, SWEEP, 0)
    assert isinstance(waiter.next("waiter"), Wait)
    beats = [threading.Timer(0.05 * i, other.heartbeat, [held.run_id]) for i in range(1, 8)]
    for beat in beats:
        beat.start()
    size, started = waiter.log.size(), time.monotonic()
    waiter.wait_for_news(0.6)
    assert (
        time.monotonic() - started >= 0.6 and waiter.log.size() > size
    )  # news came, the wait went on


def test_exhausted_is_answered_without_queueing_for_the_lock(tmp_path):
    store, sweep = (
        tmp_path / "store.log",
        {**SWEEP, "run_cap": 1},
    )  # a grid learns it is done under the lock
    other = make_controller(store, sweep, 0)
    held = claim(other, "other")
    other.finish(held.run_id, DONE)  # the only run is done
    leaving = make_controller(store, sweep, 0)
    answers = []
    with EventLog(store).locked():  # someone holds the lock (a separate descriptor: it excludes)
        asking = threading.Thread(
            target=lambda: answers.append(leaving.next("leaving")), daemon=True
        )
        asking.start()
        asking.join(timeout=10)
        assert len(answers) == 1 and isinstance(
            answers[0], Exhausted
        )  # while the lock is still held
