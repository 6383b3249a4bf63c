"""The local controller with real agent processes on one store (no mocked controller)."""

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from controller_helpers import claim, make_controller

from snakesweep.record import events
from snakesweep.record.events import Kind, kind_of
from snakesweep.record.state import fold
from snakesweep.record.store import EventLog, encode

FAKE_AGENT = Path(__file__).parents[2] / "fake_agent.py"

GRID_24 = {
    "method": "grid",
    "metric": {"name": "val_loss", "goal": "minimize"},
    "parameters": {
        "learning_rate": {"values": [0.001, 0.01, 0.1]},
        "batch_size": {"values": [16, 32, 64, 128]},
        "dropout": {"values": [0.0, 0.5]},
    },
}


def _sweep_file(tmp_path, config, seed=0):
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps({"config": config, "seed": seed}))
    return path


def _agent(tmp_path, store, sweep, name, max_runs=100, seconds=0.0, timeout=30):
    return subprocess.Popen(
        [
            sys.executable,
            str(FAKE_AGENT),
            str(store),
            str(sweep),
            name,
            str(max_runs),
            str(seconds),
            str(timeout),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _configs(runs):
    return [json.dumps(r.config, sort_keys=True) for r in runs.values()]


@pytest.mark.slow  # eight agent processes
def test_eight_agents_hand_out_a_grid_of_24_exactly_once(tmp_path):
    store, sweep = tmp_path / "store.log", _sweep_file(tmp_path, GRID_24)
    agents = [
        _agent(tmp_path, store, sweep, f"a{i}", seconds=0.05) for i in range(8)
    ]  # long enough for all to start
    outputs = [p.communicate(timeout=120) for p in agents]
    assert all(p.returncode == 0 for p in agents), [o[1][-2000:] for o in outputs]
    runs = fold(EventLog(store).read())
    assert len(runs) == 24
    assert all(count == 1 for count in Counter(_configs(runs)).values())
    assert {r.state for r in runs.values()} == {"finished"}
    per_agent = [len(json.loads(o[0])["runs"]) for o in outputs]
    assert sum(per_agent) == 24
    assert sum(1 for n in per_agent if n > 0) >= 2  # the work really was shared


def test_a_sigkilled_agents_run_is_requeued_and_finished_by_another(tmp_path):
    store, sweep = (
        tmp_path / "store.log",
        _sweep_file(
            tmp_path, {**GRID_24, "parameters": {"learning_rate": {"values": [0.1, 0.2, 0.3]}}}
        ),
    )
    victim = _agent(tmp_path, store, sweep, "victim", seconds=30, timeout=2)
    deadline = time.time() + 60
    while not fold(EventLog(store).read()) and time.time() < deadline:
        time.sleep(0.1)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    held = next(iter(fold(EventLog(store).read()).values()))
    assert held.state == "running" and held.agent == "victim"
    rescuer = _agent(tmp_path, store, sweep, "rescuer", seconds=0.01, timeout=2)
    out, err = rescuer.communicate(timeout=120)
    assert rescuer.returncode == 0, err
    runs = fold(EventLog(store).read())
    assert len(runs) == 3 and {r.state for r in runs.values()} == {"finished"}
    retried = runs[held.run_id]
    assert retried.attempt == 2 and retried.agents == ["victim", "rescuer"]
    assert sorted(Counter(_configs(runs)).values()) == [1, 1, 1]


def test_a_restarted_agent_requeues_its_own_runs_at_once(tmp_path):
    config = {**GRID_24, "parameters": {"learning_rate": {"values": [0.1, 0.2]}}}
    controller = make_controller(tmp_path / "store.log", config, 0, heartbeat_timeout=3600)
    first = claim(controller, "a0")
    assert controller.start_agent("a0") == [first.run_id]
    again = claim(controller, "a0")
    assert again.run_id == first.run_id and again.attempt == 2


def test_a_finished_run_is_never_handed_out_again(tmp_path):
    config = {**GRID_24, "parameters": {"learning_rate": {"values": [0.1]}}}
    now = [0.0]
    controller = make_controller(
        tmp_path / "store.log", config, 0, heartbeat_timeout=10, clock=lambda: now[0]
    )
    done = claim(controller, "a0")
    controller.finish(done.run_id, {"state": "finished", "summary": {"val_loss": 0.5}})
    now[0] = 1e6  # long after any heartbeat
    assert claim(controller, "a1") is None
    assert fold(controller.log.read())[done.run_id].state == "finished"


def test_a_run_that_keeps_crashing_is_given_up_after_max_attempts(tmp_path):
    config = {**GRID_24, "parameters": {"learning_rate": {"values": [0.1]}}}
    controller = make_controller(
        tmp_path / "store.log", config, 0, heartbeat_timeout=3600, max_attempts=2
    )
    claim(controller, "a0")
    controller.start_agent("a0")
    assert claim(controller, "a0").attempt == 2
    controller.start_agent("a0")
    assert claim(controller, "a0") is None
    assert [r.state for r in controller.runs().values()] == ["crashed"]


def test_torn_last_write_is_ignored_at_every_offset(tmp_path):
    config = {**GRID_24, "parameters": {"learning_rate": {"values": [0.1, 0.2, 0.3]}}}
    store = tmp_path / "store.log"
    controller = make_controller(store, config, 0)
    first = claim(controller, "a0")
    controller.finish(first.run_id, {"state": "finished", "summary": {"val_loss": 0.5}})
    claim(controller, "a0")
    intact = store.read_bytes()
    last_start = intact.rstrip(b"\n").rfind(b"\n") + 1
    for cut in range(last_start, len(intact)):
        store.write_bytes(intact[:cut])
        runs = make_controller(store, config, 0).runs()
        assert runs[first.run_id].state == "finished"
        assert len(runs) == 1  # the torn claim never returned to its agent: it did not happen
        # the next writer cuts the torn tail off and the log stays readable
        later = make_controller(store, config, 0)
        later.heartbeat(first.run_id)
        assert [kind_of(e) for e in later.log.read()] == [Kind.CLAIM, Kind.FINISH, Kind.HEARTBEAT]


def test_a_corrupted_line_is_skipped_not_fatal(tmp_path):
    log = EventLog(tmp_path / "store.log")
    good = encode(events.heartbeat("0000-run"))
    forged = b"0000beef " + json.dumps(events.crashed("0000-run", "forged")).encode() + b"\n"
    (tmp_path / "store.log").write_bytes(good + forged + good)
    assert [kind_of(e) for e in log.read()] == [Kind.HEARTBEAT, Kind.HEARTBEAT]


def _random_suggestions(tmp_path, name, seed, n=5):
    config = {
        "method": "random",
        "parameters": {
            "learning_rate": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
            "batch_size": {"values": [32, 64, 128]},
        },
    }
    controller = make_controller(tmp_path / f"{name}.log", config, seed)
    return [claim(controller, "a").config for _ in range(n)]


def test_random_suggestions_are_the_same_for_the_same_seed(tmp_path):
    a = _random_suggestions(tmp_path, "a", seed=1)
    b = _random_suggestions(tmp_path, "b", seed=1)
    c = _random_suggestions(tmp_path, "c", seed=2)
    assert a == b and a != c
    assert len({json.dumps(x) for x in a}) == 5
    assert all(type(x["learning_rate"]) is float for x in a)


def test_run_cap_bounds_a_random_sweep(tmp_path):
    config = {
        "method": "random",
        "run_cap": 3,
        "parameters": {"learning_rate": {"min": 0.001, "max": 0.1}},
    }
    controller = make_controller(tmp_path / "s.log", config, 0)
    claims = [claim(controller, "a") for _ in range(5)]
    assert [c is not None for c in claims] == [True, True, True, False, False]


def test_hyperband_stops_a_bad_run(tmp_path):
    config = {
        "method": "grid",
        "metric": {"name": "val_loss", "goal": "minimize"},
        "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 2},
        "parameters": {"learning_rate": {"values": [0.1, 0.2, 0.3, 0.4]}},
    }
    controller = make_controller(tmp_path / "s.log", config, 0, parallelism=1)
    for i in range(3):  # each better than the last: none is stopped
        good = claim(controller, "a")
        assert not controller.report(good.run_id, 1, 0.12 - 0.01 * i)
        controller.finish(
            good.run_id, {"state": "finished", "summary": {"val_loss": 0.12 - 0.01 * i}}
        )
    bad = claim(controller, "a")  # index 3 with parallelism 1 sees runs 0..2
    assert controller.report(bad.run_id, 1, 5.0) is True
    assert controller.runs()[bad.run_id].should_stop
    assert controller.runs()[bad.run_id].stopped_at == 1


def test_a_run_that_raises_is_failed_with_its_reason_and_the_agent_goes_on(tmp_path):
    config = {**GRID_24, "parameters": {"learning_rate": {"values": [0.666, 0.1, 0.2]}}}
    store, sweep = tmp_path / "store.log", _sweep_file(tmp_path, config)
    agent = _agent(tmp_path, store, sweep, "a0", seconds=0.0)
    out, err = agent.communicate(timeout=120)
    assert agent.returncode == 0, err
    runs = {r.config["learning_rate"]: r for r in fold(EventLog(store).read()).values()}
    assert (
        runs[0.666].state == "failed" and runs[0.666].reason == "RuntimeError: the trainer blew up"
    )
    assert runs[0.1].state == runs[0.2].state == "finished"
    assert "the trainer blew up" in err  # the traceback is in the agent's log


WRITER = """
import sys
from snakesweep.sweep.controller import LocalController
from snakesweep.sweep.decide import Limits
config = {"method": "grid", "parameters": {"learning_rate": {"values": [0.1]}}}
controller = LocalController(sys.argv[1], config, 0, Limits(1, 120.0, 3))
print("ready", flush=True)
while True:
    controller.heartbeat(sys.argv[2])
"""


@pytest.mark.slow  # a writer process started and SIGKILLed over and over
def test_killing_a_writer_at_random_instants_never_corrupts_the_store(tmp_path):
    import random

    config = {"method": "grid", "parameters": {"learning_rate": {"values": [0.1, 0.2]}}}
    store = tmp_path / "store.log"
    controller = make_controller(store, config, 0)
    done = claim(controller, "a0")
    controller.finish(done.run_id, {"state": "finished", "summary": {"val_loss": 0.5}})
    held = claim(controller, "a0")
    rng = random.Random(0)
    for _ in range(15):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(store), held.run_id],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.05))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        runs = make_controller(store, config, 0).runs()
        assert runs[done.run_id].state == "finished" and runs[held.run_id].state == "running"
    assert sum(1 for e in EventLog(store).read() if kind_of(e) == Kind.HEARTBEAT) > 15
