"""`snakesweep status`: the summary on plain events, then live against a real snakemake run
(the shared `tiny_run`, which asks status every second while it runs), and proof that it
writes nothing, takes no lock and works on a read-only mount."""

import csv
import dataclasses
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from filelock import FileLock
from record_helpers import sweep_record

from snakesweep.errors import UserError
from snakesweep.inspect.status import load, planned_runs, render, summarize
from snakesweep.record import events

SWEEP = sweep_record(
    {
        "method": "grid",
        "metric": {"name": "val_accuracy", "goal": "maximize"},
        "parameters": {
            "learning_rate": {"values": [0.1, 0.2]},
            "group": {"parameters": {"batch_size": {"values": [8, 16]}}},
        },
    },
    sweep_id="local-abc",
    name="tiny-abc",
)


def claim(run, index, t, agent="0", **config):
    return {**events.claim(run, index, config, {}, agent, attempt=1), "time": t}


def finish(run, state, summary, t, reason=None):
    return events.finish(run, {"state": state, "summary": summary, "reason": reason}, t)


def logged():
    return [
        claim("r0", 0, 0.0, learning_rate=0.1, batch_size=8),
        claim("r1", 1, 10.0, agent="1", learning_rate=0.2, batch_size=8, epochs=3),
        events.metric("r0", 1, 0.9, 50.0),
        finish("r0", "finished", {"val_accuracy": 0.9}, 100.0),
        claim("r2", 2, 100.0, learning_rate=0.1, batch_size=16),
        finish("r2", "failed", {}, 105.0, reason="loss became nan"),
        events.metric("r1", 2, 0.8, 150.0),
    ]


def test_summary_counts_states_shows_running_epochs_and_estimates_time_left():
    summary = summarize(logged(), SWEEP, now=160.0, run_defaults={"epochs": 5})
    assert summary["planned"] == 4  # 2 x 2, through the nested group
    assert summary["counts"] == {
        "queued": 1,
        "running": 1,
        "finished": 1,
        "stopped": 0,
        "failed": 1,
        "crashed": 0,
        "interrupted": 0,
    }
    assert summary["running"] == [
        {"run_id": "r1", "agent": "1", "epoch": 2, "epochs": 3, "value": 0.8, "heartbeat_age": 10.0}
    ]
    assert summary["best"] == {
        "run_id": "r0",
        "value": 0.9,
        "config": {"learning_rate": 0.1, "batch_size": 8},
        "summary": {"val_accuracy": 0.9},
    }
    # r0 was agent 0's first run (its 100 s include the warm-up), so only r2's 5 s count; r1 has
    # run 150 s (so ~0 s left); one run is queued: ~5 s
    assert summary["left"] == pytest.approx(5.0)
    assert summary["elapsed"] == 160.0 and summary["active"]
    text = render(summary)
    assert "1 queued, 1 running, 1 finished, 0 stopped, 1 failed, 0 crashed (of 4 planned)" in text
    assert re.search(r"r1\s+1\s+2/3\s+0\.8\s+10 s", text), text
    assert "best: r0 val_accuracy = 0.9 (batch_size=8, learning_rate=0.1)" in text
    assert "about 5s left" in text


def test_a_finished_sweep_is_done_and_its_elapsed_time_stops_at_the_last_event():
    done = logged() + [
        finish("r1", "stopped", {"val_accuracy": 0.95}, 170.0),
        claim("r3", 3, 170.0, learning_rate=0.2, batch_size=16),
        finish("r3", "finished", {"val_accuracy": 0.5}, 200.0),
    ]
    summary = summarize(done, SWEEP, now=1000.0)
    assert (
        summary["counts"]["queued"] == 0 and not summary["active"] and summary["elapsed"] == 200.0
    )
    assert (
        summary["best"]["run_id"] == "r1"
    )  # an early-stopped run can be the best, as in the leaderboard
    assert render(summary).endswith("elapsed 3m 20s, done")


def test_an_open_ended_sweep_has_no_queue_and_no_estimate():
    random_sweep = dataclasses.replace(SWEEP, config={**SWEEP.config, "method": "random"})
    assert planned_runs(random_sweep.config) is None
    assert planned_runs({**random_sweep.config, "run_cap": 7}) == 7
    assert planned_runs({**SWEEP.config, "run_cap": 3}) == 3
    summary = summarize(logged(), random_sweep, now=160.0)
    assert summary["counts"]["queued"] is None and summary["left"] is None
    assert "? queued" in render(summary) and "open-ended" in render(summary)


def test_no_sweep_is_one_line_naming_the_file_and_a_non_zero_exit(tmp_path):
    with pytest.raises(
        UserError, match=re.escape(str(tmp_path / "sweep/sweep.json")) + ": no sweep here yet"
    ):
        load(tmp_path)
    result = status(tmp_path)
    assert result.returncode == 1
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "sweep.json: no sweep here yet" in result.stderr


def status(results: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakesweep.cli", "status", "--results", str(results), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


RUNNING_ROW = re.compile(r"^\s+(\d{4}-[0-9a-f]{8})\s+(\d+)\s+(\d+)/(\d+)\s", re.M)
COUNTS = re.compile(
    r"^runs: (\d+) queued, (\d+) running, (\d+) finished, (\d+) stopped, (\d+) failed, "
    r"(\d+) crashed",
    re.M,
)


@pytest.mark.slow
def test_status_follows_a_running_sweep_and_counts_every_run_at_the_end(tiny_run):
    work, _, result = (
        tiny_run  # the tiny sweep (4 runs, 2 agents, 1 epoch), status asked every second
    )
    seen = result.status
    running = [row for text in seen for row in RUNNING_ROW.findall(text)]
    assert any(int(epoch) >= 1 and epochs == "1" for _, _, epoch, epochs in running), seen
    assert {agent for _, agent, _, _ in running} <= {"0", "1"}
    final = status(work / "results")
    assert final.returncode == 0, final.stderr
    queued, running_now, *ended = map(int, COUNTS.search(final.stdout).groups())
    rows = list(csv.DictReader((work / "results/leaderboard.csv").open()))
    assert (queued, running_now, sum(ended)) == (0, 0, len(rows)) == (0, 0, 4)
    assert (
        f"best: {rows[0]['run_id']} val_accuracy = " in final.stdout
        and final.stdout.rstrip().endswith("done")
    )


@pytest.mark.slow
def test_console_ends_with_the_summary_and_shows_no_library_warnings(tiny_run):
    work, _, result = tiny_run
    console = result.stdout
    best = (work / "results/best/best_run.json").read_text()
    tail = console[console.index("snakesweep: sweep ") :]
    assert re.match(r"snakesweep: sweep local-\w+ done, 4 runs \(4 finished\)\n", tail), tail
    run_id = re.search(r"best run\s+(\S+): val_accuracy = ", tail).group(1)
    assert f'"run_id": "{run_id}"' in best
    for expected in (
        "test accuracy",
        "results/best/model.onnx",
        "results/leaderboard.csv",
        "snakemake --report report.html",
    ):
        assert expected in tail
    for noise in ("UserWarning", "pydantic", "grid_search_dedupe"):
        assert noise not in console
    # the engine's warning is still in the agents' logs, for whoever debugs the engine
    assert "grid_search_dedupe" in "".join(
        p.read_text() for p in (work / "results/logs").glob("agent-*.log")
    )


def snapshot(root: Path) -> dict:
    return {
        str(p.relative_to(root)): (
            p.is_dir(),
            p.stat().st_mtime_ns,
            None if p.is_dir() else p.read_bytes(),
        )
        for p in [root, *root.rglob("*")]
    }


def quiet_snapshot(root: Path, timeout: float = 60) -> dict:
    """A snapshot once nothing changes for 2 s: helpers of the finished run (wandb's service
    process ends a moment after its agent job) may still be closing their files."""
    deadline, last = time.monotonic() + timeout, snapshot(root)
    while time.monotonic() < deadline:
        time.sleep(2)
        now = snapshot(root)
        if now == last:
            return now
        last = now
    raise AssertionError(f"{root} kept changing for {timeout} s")


@pytest.mark.slow
def test_status_writes_nothing_and_takes_no_lock(tiny_run):
    work, _, _ = tiny_run
    results = work / "results"
    store = next((results / "sweep/stores").glob("*.log"))
    with FileLock(f"{store}.lock", timeout=1):  # as if an agent held the store's lock
        before = quiet_snapshot(work)
        once = status(results)
        watching = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "snakesweep.cli",
                "status",
                "--results",
                str(results),
                "--watch",
                "0.2",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(3)
        watching.send_signal(signal.SIGINT)
        watched, _ = watching.communicate(timeout=30)
        after = snapshot(work)
    assert once.returncode == 0 and watching.returncode == 0, (once.stderr, watched)
    assert watched.count("runs: 0 queued") >= 2  # it refreshed while the lock was held
    changed = sorted(
        key for key in before.keys() | after.keys() if before.get(key) != after.get(key)
    )
    assert not changed  # every file and folder: same bytes, same mtime, nothing new


@pytest.mark.slow
def test_status_works_on_a_read_only_copy(tiny_run, tmp_path):
    work, _, _ = tiny_run
    mount = tmp_path / "ro"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip(
            "a read-only mount needs root "
            "(permission bits do not stop root, so chmod proves nothing)"
        )
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True
    ).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        shutil.copytree(work / "results", mount / "results", symlinks=True)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        with pytest.raises(OSError, match="Read-only file system"):
            (mount / "results/probe").write_text("x")
        copy = status(mount / "results")
    finally:
        subprocess.run(["umount", str(mount)], check=False)
    original = status(work / "results")
    assert copy.returncode == 0, copy.stderr
    without_clock = re.compile(r"^elapsed .*$", re.M)
    assert without_clock.sub("", copy.stdout) == without_clock.sub("", original.stdout)
