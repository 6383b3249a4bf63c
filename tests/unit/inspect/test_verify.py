"""`snakesweep verify` on a real finished sweep (the tiny default-method sweep, `tiny_run`), and
on copies of it with one thing changed behind the store's back: each change is found, and the
one line that reports it names the run."""

import json
import shutil
import subprocess
import sys

import pytest

from snakesweep import paths
from snakesweep.record.events import Kind, kind_of
from snakesweep.record.store import decode_all, encode

pytestmark = pytest.mark.slow


def verify(results, *args):
    return subprocess.run(
        [sys.executable, "-m", "snakesweep.cli", "verify", "--results", str(results), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def results(tmp_path, tiny_run):
    """A private copy of the finished tiny sweep's results, free to tamper with."""
    work = tiny_run[0]
    copy = tmp_path / "results"
    shutil.copytree(work / "results", copy, ignore=shutil.ignore_patterns("wandb"))
    return copy


def _runs(results):
    import csv

    return list(csv.DictReader((results / "leaderboard.csv").open()))


def _fails_naming(result, run_id, *words):
    assert result.returncode != 0, result.stdout
    message = result.stderr.strip().splitlines()[-1]
    assert f"run {run_id}" in message, message
    for word in words:
        assert word in message, message
    assert "Traceback" not in result.stderr


def test_a_finished_sweep_verifies_and_the_best_model_retrains_to_the_same_bytes(results):
    result = verify(results, "--retrain")
    assert result.returncode == 0, result.stderr
    assert "suggestions replayed: 4" in result.stdout
    assert "run files matching their recorded sha256: 4" in result.stdout
    assert "retrained: model.onnx byte-identical" in result.stdout


def test_a_changed_model_file_is_found(results):
    last = _runs(results)[-1]["run_id"]
    model = results / "runs" / last / paths.ONNX_FILE
    model.write_bytes(model.read_bytes() + b"\0")
    _fails_naming(verify(results), last, paths.ONNX_FILE, "sha256")


def test_an_edited_leaderboard_row_is_found(results):
    board = results / "leaderboard.csv"
    lines = board.read_text().splitlines()
    row = lines[2].split(",")
    row[3] = "0.999"  # the metric column of the second run
    lines[2] = ",".join(row)
    board.write_text("\n".join(lines) + "\n")
    _fails_naming(verify(results), row[1], "leaderboard.csv")


def test_a_recorded_metric_rewritten_with_a_valid_checksum_is_found(results):
    (store,) = (results / "sweep" / "stores").glob("*.log")
    lines = store.read_bytes().splitlines(keepends=True)
    target = _runs(results)[-1]["run_id"]
    for i, line in enumerate(lines):
        (event,) = decode_all(line)
        if kind_of(event) == Kind.FINISH and event["run"] == target:
            event["summary"] = {**event["summary"], "val_accuracy": 0.999}
            lines[i] = encode(event)  # a well-formed line: only replaying the results can tell
    store.write_bytes(b"".join(lines))
    _fails_naming(verify(results), target)


def test_no_sweep_is_one_line_and_non_zero(tmp_path):
    result = verify(tmp_path)
    assert (
        result.returncode != 0
        and "no sweep here" in result.stderr
        and "Traceback" not in result.stderr
    )


def test_a_stored_suggestion_that_the_engine_would_not_make_is_found(results):
    (store,) = (results / "sweep" / "stores").glob("*.log")
    lines = store.read_bytes().splitlines(keepends=True)
    for i, line in enumerate(lines):
        (event,) = decode_all(line)
        if kind_of(event) == Kind.CLAIM and event["index"] == 1:
            event["config"] = {**event["config"], "learning_rate": 0.5}
            lines[i], victim = encode(event), event["run"]
    store.write_bytes(b"".join(lines))
    _fails_naming(verify(results), victim, "suggestion 1")
    assert json.dumps({"learning_rate": 0.5})[1:-1] in verify(results).stderr
