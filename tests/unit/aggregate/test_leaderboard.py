"""The aggregate's parts on a real store: `collect` joins the store's runs with their
metrics.json, `rank` orders them, `write_leaderboard` writes the table (a crashed, a failed
and a stopped run included), `publish_best` copies the best model and re-measures it with
onnxruntime. The store is written by the real LocalController, driven as agents drive it."""

import csv
import json
import time

import numpy as np
import onnx
import pytest
from controller_helpers import claim, make_controller
from onnx import TensorProto, helper
from record_helpers import sweep_record

from snakesweep import paths
from snakesweep.aggregate.aggregate import Outputs
from snakesweep.aggregate.best import publish_best
from snakesweep.aggregate.leaderboard import (
    collect,
    leaderboard_text,
    rank,
    value_columns,
    write_leaderboard,
)
from snakesweep.atomic import write_json
from snakesweep.data.arrays import file_sha256
from snakesweep.errors import UserError
from snakesweep.record.state import fold
from snakesweep.record.store import EventLog
from snakesweep.record.sweep_record import FROM_SWEEP, Ranking

SWEEP = {
    "method": "grid",
    "metric": {"name": "val_accuracy", "goal": "maximize"},
    "parameters": {"learning_rate": {"values": [0.1, 0.2, 0.3, 0.4, 0.5]}},
}
RANKING = Ranking("val_accuracy", "maximize", FROM_SWEEP)
HEARTBEAT_TIMEOUT = 0.3


def _metrics(run_dir, val_accuracy, test_accuracy, state="finished", reason=None):
    history = [
        {"epoch": 1, "val_accuracy": val_accuracy / 2, "val_loss": 2.0},
        {"epoch": 2, "val_accuracy": val_accuracy, "val_loss": 1.0},
    ]
    write_json(
        run_dir / paths.RUN_METRICS,
        {
            "state": state,
            "reason": reason,
            "config": {"learning_rate": 0.1, "epochs": 2},
            "history": history,
            "final": {"epochs_completed": 2, "test_accuracy": test_accuracy, "test_loss": 0.5},
            "onnx": {"sha256": "ab" * 32},
        },
    )


@pytest.fixture
def sweep_runs(tmp_path):
    """Five runs, as agents leave them: finished (0.90), failed, crashed (its agent died and
    it has no attempts left), finished (0.95), stopped early (0.90, a tie with the first)."""
    runs_dir = tmp_path / "runs"
    controller = make_controller(
        tmp_path / "store.log", SWEEP, 0, heartbeat_timeout=HEARTBEAT_TIMEOUT, max_attempts=1
    )
    first = claim(controller, "a")
    controller.finish(first.run_id, {"state": "finished", "summary": {"val_accuracy": 0.90}})
    _metrics(runs_dir / first.run_id, 0.90, 0.91)
    failed = claim(controller, "a")
    nan = "loss became nan at epoch 1 step 3"
    controller.finish(failed.run_id, {"state": "failed", "summary": {}, "reason": nan})
    crashed = claim(controller, "a")  # agent a dies here: no heartbeat, no finish
    best = claim(controller, "b")
    controller.finish(best.run_id, {"state": "finished", "summary": {"val_accuracy": 0.95}})
    _metrics(runs_dir / best.run_id, 0.95, 0.96)
    time.sleep(HEARTBEAT_TIMEOUT + 0.2)
    stopped = claim(controller, "b")  # finds the crashed run stale; max_attempts=1: given up
    controller.finish(stopped.run_id, {"state": "stopped", "summary": {"val_accuracy": 0.90}})
    _metrics(runs_dir / stopped.run_id, 0.90, 0.89, "stopped", "stopped early after epoch 2")
    ids = {"first": first, "failed": failed, "crashed": crashed, "best": best, "stopped": stopped}
    return (
        fold(EventLog(tmp_path / "store.log").read()),
        runs_dir,
        {k: c.run_id for k, c in ids.items()},
    )


def test_collect_joins_the_store_and_the_runs_files(sweep_runs):
    runs, runs_dir, ids = sweep_runs
    rows = {row["run_id"]: row for row in collect(runs, runs_dir)}
    assert set(rows) == set(ids.values())
    best = rows[ids["best"]]
    assert best["state"] == "finished" and best["summary"] == {"val_accuracy": 0.95}
    # val_* of the last epoch, test_* of the final evaluation
    assert best["metrics"] == {
        "val_accuracy": 0.95,
        "val_loss": 1.0,
        "test_accuracy": 0.96,
        "test_loss": 0.5,
        "epochs_completed": 2,
        "onnx_sha256": best["onnx_sha256"],
    }
    assert best["run_config"] == {"learning_rate": 0.1, "epochs": 2}
    crashed = rows[ids["crashed"]]
    assert (
        crashed["state"] == "crashed"
        and crashed["reason"] == f"no heartbeat for {HEARTBEAT_TIMEOUT:g} s"
    )
    assert (
        crashed["metrics"] == dict.fromkeys(crashed["metrics"]) and crashed["onnx_sha256"] is None
    )
    assert rows[ids["failed"]]["reason"] == "loss became nan at epoch 1 step 3"
    assert rows[ids["stopped"]]["reason"] == "stopped early after epoch 2"  # from metrics.json


def test_rank_puts_the_best_first_and_unranked_runs_last(sweep_runs):
    runs, runs_dir, ids = sweep_runs
    rows = collect(runs, runs_dir)
    unranked = sorted([ids["failed"], ids["crashed"]])
    order = [row["run_id"] for row in rank(rows, "val_accuracy", "maximize")]
    assert order == [ids["best"], ids["first"], ids["stopped"], *unranked]  # a tie goes by run id
    order = [row["run_id"] for row in rank(rows, "val_accuracy", "minimize")]
    assert order == [ids["first"], ids["stopped"], ids["best"], *unranked]
    for row in rows:
        if row["run_id"] == ids["first"]:
            row["summary"]["val_accuracy"] = float("nan")  # a NaN metric is not a rank
    assert [r["run_id"] for r in rank(rows, "val_accuracy", "maximize")][-3:] == sorted(
        [ids["first"], *unranked]
    )


def test_the_leaderboard_lists_every_run_with_its_state_and_reason(sweep_runs, tmp_path):
    runs, runs_dir, ids = sweep_runs
    path = tmp_path / "leaderboard.csv"
    rows = collect(runs, runs_dir)
    columns = value_columns(rows, "val_accuracy", user_code=False)
    write_leaderboard(
        path,
        leaderboard_text(
            rank(rows, "val_accuracy", "maximize"), "val_accuracy", ["learning_rate"], columns
        ),
    )
    table = list(csv.DictReader(path.open()))
    assert list(table[0]) == [
        "rank",
        "run_id",
        "state",
        "val_accuracy",
        "learning_rate",
        "val_loss",
        "test_accuracy",
        "test_loss",
        "epochs_completed",
        "onnx_sha256",
        "reason",
    ]
    assert [(r["rank"], r["run_id"], r["state"]) for r in table[:3]] == [
        ("1", ids["best"], "finished"),
        ("2", ids["first"], "finished"),
        ("3", ids["stopped"], "stopped"),
    ]
    assert (
        table[0]["val_accuracy"] == "0.95"
        and table[0]["learning_rate"] == "0.4"
        and table[0]["test_accuracy"] == "0.96"
    )
    rows = {r["run_id"]: r for r in table}
    crashed = rows[ids["crashed"]]
    assert (crashed["rank"], crashed["state"], crashed["reason"]) == (
        "",
        "crashed",
        "no heartbeat for 0.3 s",
    )
    assert crashed["val_accuracy"] == crashed["test_accuracy"] == crashed["onnx_sha256"] == ""
    assert (rows[ids["failed"]]["rank"], rows[ids["failed"]]["state"]) == ("", "failed")
    assert [
        p.name for p in tmp_path.iterdir() if p.name.startswith(".")
    ] == []  # no temporary file left


def _onnx_model(path):
    """A real ONNX classifier: digit k is predicted when pixel k of the first row is the
    brightest."""
    weights = np.zeros((784, 10), np.float32)
    weights[np.arange(10), np.arange(10)] = 1.0
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["images"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["logits"]),
        ],
        "digits",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        [helper.make_tensor("w", TensorProto.FLOAT, weights.shape, weights.flatten())],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


@pytest.fixture
def best_run(tmp_path):
    """A best run whose model gets 8 of 10 test images right."""
    run_dir = tmp_path / "runs/0003-abcdef01"
    run_dir.mkdir(parents=True)
    _onnx_model(run_dir / paths.ONNX_FILE)
    images = np.zeros((10, 28, 28), np.uint8)
    images[np.arange(10), 0, np.arange(10)] = 255
    dataset = {"x_test": images, "y_test": np.array([0, 1, 2, 3, 4, 5, 6, 7, 0, 0])}
    row = {
        "run_id": "0003-abcdef01",
        "state": "finished",
        "run_config": {"learning_rate": 0.4},
        "config": {"learning_rate": 0.4},
        "summary": {"val_accuracy": 0.95},
        "metrics": {"test_accuracy": 0.8},
        "onnx_sha256": file_sha256(run_dir / paths.ONNX_FILE),
    }
    sweep = sweep_record(SWEEP, ranking=RANKING)
    return row, sweep, dataset, tmp_path


def _publish(row, sweep, dataset, tmp_path):
    out = tmp_path / "best"
    outputs = Outputs(
        best=str(out / "best_run.json"),
        card=str(out / "README.md"),
        leaderboard=str(tmp_path / "leaderboard.csv"),
        plots=str(tmp_path / "plots"),
        importance=str(tmp_path / "importance.csv"),
        model=str(out / "model.onnx"),
    )
    return publish_best(row, sweep, tmp_path / "runs", dataset, outputs, extra={})


def test_publish_best_copies_the_model_and_measures_it_again(best_run):
    row, sweep, dataset, tmp_path = best_run
    record = _publish(row, sweep, dataset, tmp_path)
    copied = tmp_path / "best/model.onnx"
    assert copied.read_bytes() == (tmp_path / "runs/0003-abcdef01" / paths.ONNX_FILE).read_bytes()
    assert record["test_accuracy_onnxruntime"] == record["test_accuracy_pytorch"] == 0.8
    assert record["metric"] == {
        "name": "val_accuracy",
        "goal": "maximize",
        "source": "sweep",
        "value": 0.95,
    }
    assert record["onnx_sha256"] == file_sha256(copied) and record["test_images"] == 10
    assert json.loads((tmp_path / "best/best_run.json").read_text()) == record


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"metrics": {"test_accuracy": 0.9}},
            "onnxruntime test accuracy 0.8 differs from PyTorch's 0.9",
        ),
        ({"onnx_sha256": "00" * 32}, "sha256 differs from the one its run recorded"),
        ({"run_id": "0004-00000000"}, "the best run's model is missing"),
    ],
    ids=["accuracy-differs", "file-changed", "file-missing"],
)
def test_publish_best_refuses_a_model_that_is_not_what_the_run_measured(best_run, change, message):
    row, sweep, dataset, tmp_path = best_run
    with pytest.raises(UserError, match=message):
        _publish({**row, **change}, sweep, dataset, tmp_path)
    assert not (tmp_path / "best/best_run.json").exists()
