"""The agent loop on a real store: an agent with nothing left to hand out waits while another
agent's run is in flight, so that the run, if its agent has died, finds a taker."""

from snakesweep.sweep.agent import run_agent
from snakesweep.sweep.controller import LocalController
from snakesweep.sweep.state import fold

SWEEP = {
    "method": "grid",
    "metric": {"name": "val_accuracy", "goal": "maximize"},
    "parameters": {"learning_rate": {"values": [0.1]}},
}


def _finish(claim, on_epoch):
    return {"state": "finished", "summary": {"val_accuracy": 0.9}}


def test_an_idle_agent_waits_for_a_dead_agents_run_and_takes_it(tmp_path):
    store = tmp_path / "store.log"
    held = LocalController(store, SWEEP, 0).claim("dead")  # the grid's only config; its agent dies
    survivor = LocalController(store, SWEEP, 0, heartbeat_timeout=0.5)
    summary = run_agent(survivor, "survivor", 5, _finish, heartbeat_interval=0.1, wait_seconds=0.1)
    assert summary["runs"] == [{"run_id": held.run_id, "state": "finished", "attempt": 2}]
    run = fold(survivor.log.read())[held.run_id]
    assert run.state == "finished" and run.agents == ["dead", "survivor"]
