"""The pieces a run of the user's code is made of, each on plain data or a plain process: what it
sees (GPU, environment), how its outcome is judged, and how its processes are ended."""

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from snakesweep.objectives import process
from snakesweep.objectives.function import parse_target
from snakesweep.objectives.user_code import (
    FLUSH_ENV,
    Watched,
    base_environ,
    digest_files,
    judge,
    last_values,
    stderr_tail,
    visible_gpu,
)


def test_a_run_sees_only_its_agents_gpu_or_none():
    assert visible_gpu("cpu", "0,1") == ""
    assert visible_gpu("cuda:1", None) == "1"
    assert visible_gpu("cuda:1", "4,7") == "7"  # the second of the GPUs the agent was given
    assert visible_gpu("cuda:0", "3") == "3"  # under SLURM: the GPU SLURM assigned


def test_the_runs_environment(tmp_path):
    env = base_environ(
        {"PATH": "/usr/bin", "HOME": "/root"}, str(tmp_path / "d.npz"), "cpu", 2, "offline"
    )
    assert (
        env["WANDB_MODE"] == "offline"
        and env["OMP_NUM_THREADS"] == "2"
        and env["CUDA_VISIBLE_DEVICES"] == ""
    )
    assert env["SNAKESWEEP_DATA"] == str((tmp_path / "d.npz").resolve()) and env[FLUSH_ENV] == "0.2"
    assert env["PATH"].split(os.pathsep)[0] == str(
        Path(sys.executable).parent
    )  # `/usr/bin/env python` is ours
    assert (
        base_environ({FLUSH_ENV: "1"}, "d", "cpu", 1, "offline")[FLUSH_ENV] == "1"
    )  # the user's choice stays


def test_the_summary_is_each_keys_last_value_without_wandbs_own_keys():
    rows = [
        {"_step": 0, "_runtime": 1.5, "loss": 2.0},
        {"_step": 1, "_timestamp": 9.0, "loss": math.nan, "acc": 0.5},
    ]
    assert last_values(rows) == {"_step": 1, "loss": "nan", "acc": 0.5}


def _judge(tmp_path, metric="val_loss", **watched):
    files = tmp_path / "files"
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
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "model.onnx").write_bytes(b"not a model")
    outcome = _judge(tmp_path, rows=[{"val_loss": 1.0}], iterations=1, exit_code=0)
    assert (
        outcome["state"] == "failed"
        and "files/model.onnx does not load in onnxruntime" in outcome["reason"]
    )
    assert (
        outcome["artifacts"] == digest_files(tmp_path / "files")
        and "model.onnx" in outcome["artifacts"]
    )


def test_a_function_target():
    folder, module, name = parse_target("examples/x/train.py:main")
    assert (Path(folder).name, module, name) == ("x", "train", "main")
    assert parse_target("pkg.mod:train") == (None, "pkg.mod", "train")


def _sleeper(*extra) -> subprocess.Popen:
    """A process group: a shell that started a sleeping child, both ignoring nothing."""
    return subprocess.Popen(["bash", "-c", "sleep 60 & sleep 60", *extra], start_new_session=True)


def test_ending_a_run_ends_its_whole_group(tmp_path):
    run = _sleeper()
    time.sleep(0.2)
    started = time.monotonic()
    process.end_run(run.pid, run.poll, grace=2.0)
    assert not process.group_alive(run.pid) and run.poll() is not None
    assert time.monotonic() - started < 5


def test_a_group_that_ignores_sigterm_gets_sigkill():
    run = subprocess.Popen(
        ["bash", "-c", "trap '' TERM INT; sleep 60 & wait"], start_new_session=True
    )
    time.sleep(0.2)
    process.end_run(run.pid, run.poll, grace=0.5)
    assert not process.group_alive(run.pid) and run.poll() == -signal.SIGKILL


def test_leftovers_in_a_session_of_their_own_are_ended():
    assert process.become_subreaper()
    before = process.descendants()
    run = subprocess.Popen(["bash", "-c", "setsid sleep 60 & exit 0"], start_new_session=True)
    run.wait()
    time.sleep(0.2)
    (escaped,) = process.descendants() - before  # adopted by this process, outside the group
    assert process.end_leftovers(before, grace=2.0) == {escaped}
    assert escaped not in process.descendants()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_run_dies_with_the_process_that_started_it(tmp_path):
    pid_file = tmp_path / "pid"
    starter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import subprocess, sys, time; from snakesweep.objectives.process import die_with_parent\n"
                f"p = subprocess.Popen(['sleep', '60'], preexec_fn=die_with_parent, start_new_session=True)\n"
                f"open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(60)"
            ),
        ]
    )
    deadline = time.monotonic() + 20
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    run = int(pid_file.read_text())
    starter.kill()
    starter.wait()
    deadline = time.monotonic() + 5
    while _alive(run) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(run)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
