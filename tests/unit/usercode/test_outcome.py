"""How a run of the user's code is judged once it has ended: its summary, state and reason, and
the digests of the files it wrote; each on plain data."""

import math

from snakesweep import paths
from snakesweep.usercode.outcome import digest_files, judge, last_values, plain_row, stderr_tail
from snakesweep.usercode.watch import Watched


def test_the_summary_is_each_keys_last_value_without_wandbs_own_keys():
    rows = [
        {"_step": 0, "_runtime": 1.5, "loss": 2.0},
        {"_step": 1, "_timestamp": 9.0, "loss": math.nan, "acc": 0.5},
    ]
    assert last_values(rows) == {"_step": 1, "loss": "nan", "acc": 0.5}


def test_a_row_keeps_single_values_only_and_no_wandb_internal_keys():
    row = {
        "_step": 3,
        "_runtime": 1.5,
        "loss": -math.inf,
        "name": "a",
        "ok": True,
        "none": None,
        "hist": {"_type": "histogram", "values": [1, 2]},
        "media._type": "image-file",
        "group.acc": 0.5,
    }
    assert plain_row(row) == {
        "_step": 3,
        "loss": "-inf",
        "name": "a",
        "ok": True,
        "none": None,
        "group.acc": 0.5,
    }


def _judge(tmp_path, metric="val_loss", **watched):
    files = tmp_path / paths.RUN_FILES
    files.mkdir(exist_ok=True)
    return judge(Watched(**watched), metric, 5.0, tmp_path / "stderr.log", files)


def test_the_outcome_of_each_ending(tmp_path):
    rows = [{"_step": 0, "val_loss": 0.5}]
    assert _judge(tmp_path, rows=rows, iterations=1, exit_code=0)["state"] == "finished"
    stopped = _judge(tmp_path, rows=rows, iterations=1, ended="stopped", exit_code=-2)
    assert (
        stopped["state"] == "stopped"
        and "stopped early after iteration 1 of val_loss" in stopped["reason"]
    )
    timed_out = _judge(tmp_path, rows=rows, iterations=1, ended="timed_out", exit_code=-9)
    assert timed_out["state"] == "failed" and timed_out["reason"].startswith("timed out after 5 s")
    silent = _judge(tmp_path, rows=[{"_step": 0, "loss": 1.0}], exit_code=0)
    assert (
        silent["state"] == "failed"
        and "never logged the sweep metric 'val_loss'" in silent["reason"]
    )
    assert (
        _judge(tmp_path, metric=None, rows=[], exit_code=0)["state"] == "finished"
    )  # nothing to log


def test_a_failed_exit_quotes_the_end_of_stderr_without_the_api_key(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "secret-key-1234567890")
    (tmp_path / "stderr.log").write_text(
        "".join(f"line {i}\n" for i in range(20)) + "key secret-key-1234567890\n"
    )
    failed = _judge(tmp_path, exit_code=3)
    assert failed["state"] == "failed" and failed["reason"].startswith("exit code 3: line 16 | ")
    assert "secret-key" not in failed["reason"] and failed["reason"].endswith("key ***")
    assert stderr_tail(tmp_path / "missing.log") == "(nothing on stderr)"
    assert _judge(tmp_path, exit_code=-9)["reason"].startswith("killed by signal 9")


def test_a_model_that_onnxruntime_cannot_load_fails_the_run(tmp_path):
    (tmp_path / paths.RUN_FILES).mkdir()
    (tmp_path / paths.RUN_FILES / paths.ONNX_FILE).write_bytes(b"not a model")
    outcome = _judge(tmp_path, rows=[{"val_loss": 1.0}], iterations=1, exit_code=0)
    assert (
        outcome["state"] == "failed"
        and "files/model.onnx does not load in onnxruntime" in outcome["reason"]
    )
    assert (
        outcome["artifacts"] == digest_files(tmp_path / paths.RUN_FILES)
        and paths.ONNX_FILE in outcome["artifacts"]
    )
