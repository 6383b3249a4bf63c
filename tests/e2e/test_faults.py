"""Faults, with real processes: killed agents, a killed pipeline, failing runs, a full or
read-only disk. The uninterrupted tiny sweep (`tiny_run`) is the reference that every recovered
sweep must reproduce byte for byte."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest
from workflow_helpers import copy_workflow, run_pipeline, snakemake, tiny_config

from snakesweep import paths
from snakesweep.record.events import Kind, kind_of
from snakesweep.record.state import fold
from snakesweep.record.store import EventLog

pytestmark = pytest.mark.slow


def _start(work, config, *args):
    return subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--cores", "2", *args, "--configfile", str(config)],
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _events(work):
    stores = (
        list((work / "results/sweep/stores").glob("*.log"))
        if (work / "results/sweep/stores").exists()
        else []
    )
    return EventLog(stores[0]).read() if stores else []


def _wait_for(predicate, timeout=300, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _agent_processes(work):
    """The agent jobs' Python processes (Snakemake runs each rule script in its own process):
    the top ones only, not the children an agent forks (they share its command line)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd", "ppid"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            if (
                proc.info["cwd"] == str(work)
                and ".snakemake/scripts" in cmdline
                and "agent.py" in cmdline
            ):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    pids = {proc.pid for proc in found}
    return [proc for proc in found if proc.info["ppid"] not in pids]


def _kill_an_agent_when(work, config, ready, what, timeout=900):
    """Run the pipeline, SIGKILL one agent job once `ready()`, and let the pipeline finish."""
    pipeline = _start(work, config)
    try:
        _wait_for(ready, what=what)
        os.kill(_agent_processes(work)[0].pid, signal.SIGKILL)
        out, _ = pipeline.communicate(timeout=timeout)
    finally:
        if pipeline.poll() is None:
            os.killpg(pipeline.pid, signal.SIGKILL)
    assert pipeline.returncode == 0, out[-5000:]


def _leaderboard(work):
    return (work / "results/leaderboard.csv").read_bytes()


def test_sigkilled_agent_is_retried_by_snakemake_and_its_run_requeued(tmp_path, tiny_run):
    """Snakemake's `retries:` restarts the killed agent job, and the restarted agent hands its
    own unfinished run out again at once (not after the heartbeat timeout): the two mechanisms
    work together, and the sweep ends as if nothing had happened."""
    work = copy_workflow(tmp_path / "w")
    config = tiny_config(work, agents=1)
    # mid-epoch: a run has been claimed and has not finished yet
    _kill_an_agent_when(
        work,
        config,
        lambda: any(kind_of(e) == Kind.CLAIM for e in _events(work)) and _agent_processes(work),
        "a claim",
    )
    events = _events(work)
    runs = fold(events)
    assert len(runs) == 4 and {r.state for r in runs.values()} == {"finished"}
    finishes = Counter(e["run"] for e in events if kind_of(e) == Kind.FINISH)
    assert set(finishes.values()) == {1}  # every config done exactly once
    (retried,) = [r for r in runs.values() if r.attempt > 1]
    assert retried.agents == ["0", "0"]
    crashes = [e for e in events if kind_of(e) == Kind.CRASHED]
    assert [e["reason"] for e in crashes] == ["agent 0 restarted"]
    assert _leaderboard(work) == _leaderboard(tiny_run[0])


def test_sigterm_to_an_agent_mid_run_interrupts_and_resumes_the_run(tmp_path, tiny_run):
    """SLURM's end of a job: SIGTERM to the agent in the middle of a run. The agent leaves well
    within KillWait with no process of the run left, the run is recorded interrupted at once (no
    heartbeat timeout), Snakemake's `retries:` starts the agent again, and it resumes the run
    from its checkpoint: the leaderboard and the best model are the undisturbed sweep's, byte
    for byte, and every config is done once."""
    work = copy_workflow(tmp_path / "w")
    config = tiny_config(work, agents=1)
    pipeline = _start(work, config)
    try:
        _wait_for(lambda: _agent_processes(work), what="an agent")
        agent = _agent_processes(work)[0]
        _wait_for(lambda: any(kind_of(e) == Kind.CLAIM for e in _events(work)), what="a claim")
        below = agent.children(recursive=True)
        agent.send_signal(signal.SIGTERM)
        started, sent_at = time.monotonic(), time.time()
        agent.wait(timeout=60)
        took = time.monotonic() - started
        assert took < 35, took
        assert not [p for p in below if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        interrupted = [e for e in _events(work) if kind_of(e) == Kind.INTERRUPTED]
        assert len(interrupted) == 1 and "SIGTERM" in interrupted[0]["reason"]
        assert interrupted[0]["time"] - sent_at < 35  # at once, not after the 30 s timeout
        out, _ = pipeline.communicate(timeout=900)
    finally:
        if pipeline.poll() is None:
            os.killpg(pipeline.pid, signal.SIGKILL)
    assert pipeline.returncode == 0, out[-5000:]
    events = _events(work)
    runs = fold(events)
    assert len(runs) == 4 and {r.state for r in runs.values()} == {"finished"}
    assert set(Counter(e["run"] for e in events if kind_of(e) == Kind.FINISH).values()) == {1}
    resumed = runs[interrupted[0]["run"]]
    assert resumed.attempt == 2 and not [e for e in events if kind_of(e) == Kind.CRASHED]
    assert _leaderboard(work) == _leaderboard(tiny_run[0])
    best = (work / paths.BEST_MODEL).read_bytes()
    assert best == (tiny_run[0] / paths.BEST_MODEL).read_bytes()
    verify = [sys.executable, "-m", "snakesweep.cli", "verify", "--results", str(work / "results")]
    verified = subprocess.run(verify, capture_output=True, text=True, timeout=600)
    assert verified.returncode == 0, verified.stdout + verified.stderr  # the log replays


def test_killed_pipeline_restarts_where_it_stopped(tmp_path, tiny_run):
    work = copy_workflow(tmp_path / "w")
    config = tiny_config(work, agents=1)
    pipeline = _start(work, config)
    try:
        _wait_for(
            lambda: any(kind_of(e) == Kind.FINISH for e in _events(work)), what="a finished run"
        )
        os.killpg(pipeline.pid, signal.SIGKILL)  # snakemake and every job it started
        pipeline.wait()
    finally:
        if pipeline.poll() is None:
            os.killpg(pipeline.pid, signal.SIGKILL)
    before = fold(_events(work))
    finished_before = {r.run_id for r in before.values() if r.state == "finished"}
    assert finished_before and len(finished_before) < 4
    stamps = {
        rid: (work / paths.run_dir(rid) / paths.RUN_METRICS).stat().st_mtime_ns
        for rid in finished_before
    }

    # after a hard kill Snakemake's lock stays behind; --unlock is the documented first step
    assert snakemake(work, "--unlock", "--configfile", str(config)).returncode == 0
    run_pipeline(work, config)
    events = _events(work)
    runs = fold(events)
    assert len(runs) == 4 and {r.state for r in runs.values()} == {"finished"}
    claims = Counter(e["run"] for e in events if kind_of(e) == Kind.CLAIM)
    for rid in finished_before:  # never redone
        assert claims[rid] == 1
        assert (work / paths.run_dir(rid) / paths.RUN_METRICS).stat().st_mtime_ns == stamps[rid]
    assert _leaderboard(work) == _leaderboard(tiny_run[0])


def test_ctrl_c_then_a_plain_rerun_continues_the_sweep(tmp_path, tiny_run):
    """Ctrl-C sends SIGINT to the terminal's whole process group, Snakemake and its jobs alike.
    Snakemake stops its jobs and releases its lock, so the rerun needs no `--unlock`, redoes no
    finished run, and ends with the uninterrupted run's leaderboard."""
    work = copy_workflow(tmp_path / "w")
    config = tiny_config(work, agents=1)
    pipeline = _start(work, config)
    try:
        _wait_for(
            lambda: any(kind_of(e) == Kind.FINISH for e in _events(work)), what="a finished run"
        )
        os.killpg(pipeline.pid, signal.SIGINT)
        out, _ = pipeline.communicate(timeout=120)
    finally:
        if pipeline.poll() is None:
            os.killpg(pipeline.pid, signal.SIGKILL)
    assert pipeline.returncode != 0, out[-3000:]  # it did stop early
    finished_before = {r.run_id for r in fold(_events(work)).values() if r.state == "finished"}
    assert finished_before and len(finished_before) < 4

    result = run_pipeline(work, config)
    assert "--unlock" not in result.stdout
    claims = Counter(e["run"] for e in _events(work) if kind_of(e) == Kind.CLAIM)
    assert all(claims[rid] == 1 for rid in finished_before)
    assert _leaderboard(work) == _leaderboard(tiny_run[0])


DIVERGING_SWEEP = """
method: grid
metric: {name: val_accuracy, goal: maximize}
parameters:
  optimizer: {value: sgd}
  learning_rate: {values: [0.05, 1.0e+12]}
"""


def test_a_diverging_run_is_listed_as_failed_and_the_best_is_chosen_among_the_rest(tmp_path):
    work = copy_workflow(tmp_path / "w")
    run_pipeline(work, tiny_config(work, agents=1, sweep=DIVERGING_SWEEP))
    rows = list(csv.DictReader((work / "results/leaderboard.csv").open()))
    states = {r["learning_rate"]: (r["state"], r["reason"], r["rank"]) for r in rows}
    assert states["0.05"][0] == "finished" and states["0.05"][2] == "1"
    state, reason, rank = states["1000000000000.0"]
    assert state == "failed" and reason.startswith("loss became ") and rank == ""
    best = json.loads((work / "results/best/best_run.json").read_text())
    assert best["config"]["learning_rate"] == 0.05
    log = (work / "results/logs/aggregate.log").read_text()
    assert "failed: loss became" in log


def test_when_every_run_fails_aggregate_says_so_and_points_at_the_logs(tmp_path):
    work = copy_workflow(tmp_path / "w")
    sweep = DIVERGING_SWEEP.replace("[0.05, 1.0e+12]", "[1.0e+12, 1.0e+13]")
    result = snakemake(
        work, "--cores", "2", "--configfile", str(tiny_config(work, agents=1, sweep=sweep))
    )
    assert result.returncode != 0
    assert (
        "no run of sweep" in result.stdout
        and "can be ranked by val_accuracy (maximize) (2 runs: {'failed': 2})" in result.stdout
    )
    assert "results/logs/agent-*.log" in result.stdout
    assert not (work / "results/best/model.onnx").exists()
    assert not (work / "results/leaderboard.csv").exists()  # no half-written aggregate


def _mount_tmpfs(target: Path, options: str):
    target.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.decode().strip()}): needs root")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("size=64k", "No space left on device [errno 28]"),
        ("ro,size=1m", "Read-only file system [errno 30]"),
    ],
    ids=["disk-full", "read-only"],
)
def test_full_or_read_only_results_is_reported_as_such(tmp_path, options, message):
    work = copy_workflow(tmp_path / "w")
    runs = work / "results/runs"
    _mount_tmpfs(runs, options)
    try:
        result = snakemake(work, "--cores", "2", "--configfile", str(tiny_config(work, agents=1)))
    finally:
        subprocess.run(["umount", str(runs)], check=False)
    assert result.returncode != 0
    log = (work / "results/logs/agent-0.log").read_text()
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and message in errors[0] and "results/runs/" in errors[0], log
    assert "Traceback" not in log
    assert "free some space or make results/ writable" in errors[0]
