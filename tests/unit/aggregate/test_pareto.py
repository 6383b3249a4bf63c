"""The Pareto front of a multi-objective sweep: which runs no other run beats on every
objective, whatever the goals; failed runs and runs without every value never on it."""

import json

from snakesweep.aggregate.pareto import front, objectives, write_front

GOALS = [("loss", "minimize"), ("size", "minimize")]


def row(run_id: str, state: str = "finished", **summary) -> dict:
    return {"run_id": run_id, "state": state, "summary": summary, "config": {"x": run_id}}


ROWS = [
    row("a", loss=0.1, size=100),  # best loss
    row("b", loss=0.5, size=10),  # smallest
    row("c", loss=0.3, size=50),  # a trade-off
    row("d", loss=0.4, size=60),  # beaten by c on both
    row("e", "failed", loss=0.0, size=0),  # failed: never on the front
    row("f", loss=0.2),  # no size: not ranked on every objective
    row("g", "stopped", loss=0.3, size=50),  # the same values as c: both on the front
]


def test_the_front_holds_the_runs_no_other_run_beats_on_every_objective():
    assert front(ROWS, GOALS) == ["a", "b", "c", "g"]


def test_a_goal_to_maximize_turns_the_front_around():
    assert front(ROWS, [("loss", "maximize"), ("size", "minimize")]) == ["b"]


def test_objectives_come_from_metrics_only():
    assert objectives({"metrics": [{"name": "loss"}, {"name": "size", "goal": "maximize"}]}) == [
        ("loss", "minimize"),
        ("size", "maximize"),
    ]
    assert objectives({"metric": {"name": "loss"}}) == []


def test_the_front_file_lists_each_run_with_its_values_and_config(tmp_path):
    path = tmp_path / "pareto_front.json"
    write_front(path, ROWS, GOALS)
    document = json.loads(path.read_text())
    assert [entry["run_id"] for entry in document["front"]] == ["a", "b", "c", "g"]
    assert document["front"][1]["values"] == {"loss": 0.5, "size": 10}
    assert document["front"][0]["config"] == {"x": "a"}
