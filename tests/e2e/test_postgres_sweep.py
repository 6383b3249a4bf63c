"""A sweep on the PostgreSQL store, end to end with the real `snakemake` and a real server (the
`postgres` fixture): bayes + hyperband on the ConvNet at tiny size, run by 3 agents while the
server is restarted under them (`pg_ctl restart -m fast`) and then one agent is SIGKILLed (and
restarted by Snakemake), ends with the same leaderboard and
best model, byte for byte, as the same sweep run by one agent on the file store; `verify`
proves the database's record; and the planted password is nowhere: not in results/,
.snakemake/, the logs, the console, nor the argv of any process of the sweep. A server that
cannot be reached stops the sweep at registration with one line, and nothing written."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import psutil
import pytest
import yaml
from test_adaptive_reproducibility import _config, _outputs, _verify, adaptive_sweep
from test_faults import _agent_processes
from workflow_helpers import copy_workflow, snakemake

from snakesweep.record import stores
from snakesweep.record.events import Kind, kind_of
from snakesweep.record.state import fold

pytestmark = pytest.mark.slow


def _on_store(config_path, store):
    config = yaml.safe_load(config_path.read_text())
    config["sweep"]["store"] = store
    config_path.write_text(yaml.safe_dump(config))
    return config_path


def _location(work):
    record = work / "results/sweep/sweep.json"
    return json.loads(record.read_text())["store"] if record.exists() else None


def _events(work):
    location = _location(work)
    return stores.read_events(location) if location else []


class ArgvWatch(threading.Thread):
    """Every command line seen on this machine while the sweep runs, sampled every 0.2 s."""

    def __init__(self):
        super().__init__(daemon=True)
        self.seen, self.stop = set(), threading.Event()

    def run(self):
        while not self.stop.is_set():
            for proc in psutil.process_iter(["cmdline"]):
                self.seen.add(" ".join(proc.info["cmdline"] or []))
            time.sleep(0.2)


def _finished_and_training(work, finished):
    runs = fold(_events(work)).values()
    return (
        sum(r.state in ("finished", "stopped") for r in runs) >= finished
        and any(r.state == "running" for r in runs)
        and _agent_processes(work)
    )


def _when(pipeline, ready, what, timeout=600):
    deadline = time.monotonic() + timeout
    while not ready():
        if pipeline.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the sweep ended or timed out before {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def restarted(postgres, tmp_path_factory):
    """The same sweep with 3 agents on the database, the server restarted once a run has
    finished and another is training, and then an agent SIGKILLed once another run has
    finished: (workdir, console, command lines seen)."""
    if postgres.restart is None:
        pytest.skip("the server is not ours to restart")
    work = copy_workflow(tmp_path_factory.mktemp("pg3") / "w")
    config = _on_store(_config(work, 3, adaptive_sweep(), epochs=3), postgres.url)
    watch = ArgvWatch()
    watch.start()
    command = [sys.executable, "-m", "snakemake", "--cores", "3", "--configfile", str(config)]
    pipeline = subprocess.Popen(
        command, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        _when(pipeline, lambda: _finished_and_training(work, 1), "a finished run, one training")
        postgres.restart()
        _when(pipeline, lambda: _finished_and_training(work, 2), "a 2nd finish, one training")
        os.kill(_agent_processes(work)[0].pid, signal.SIGKILL)  # Snakemake's retries restart it
        console, _ = pipeline.communicate(timeout=900)
    finally:
        watch.stop.set()
        if pipeline.poll() is None:
            pipeline.kill()
    assert pipeline.returncode == 0, console[-5000:]
    return work, console, watch.seen


def test_a_restart_and_a_killed_agent_under_3_agents_change_nothing(restarted, adaptive_one_agent):
    work, console, _ = restarted
    assert _outputs(work) == _outputs(adaptive_one_agent)  # one agent, the file store
    events = _events(work)
    claims = {e["index"] for e in events if kind_of(e) == Kind.CLAIM}
    finishes = [e["run"] for e in events if kind_of(e) == Kind.FINISH]
    assert len(finishes) == len(set(finishes)) == 6  # every run ended exactly once
    assert sorted(claims) == list(range(6))
    logs = "".join(p.read_text() for p in (work / "results/logs").glob("agent-*.log"))
    assert "lost the PostgreSQL server" in logs + console  # the agents did see the restart


def test_verify_proves_the_database_record(restarted):
    work, _, _ = restarted
    result = _verify(work)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "suggestions replayed: 6" in result.stdout


def test_the_planted_password_appears_nowhere(restarted, postgres):
    work, console, command_lines = restarted
    secret = postgres.password.encode()
    assert secret not in console.encode()
    for folder in ("results", ".snakemake"):
        for path in (work / folder).rglob("*"):
            if path.is_file():
                assert secret not in path.read_bytes(), path
    assert not [line for line in command_lines if postgres.password in line]
    assert any("snakemake" in line for line in command_lines)  # the watch did see the sweep
    assert json.loads((work / "results/sweep/sweep.json").read_text())["store"].startswith(
        postgres.url + "#"
    )


def test_an_unreachable_server_stops_the_sweep_with_one_line_and_nothing_written(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    work = copy_workflow(tmp_path / "w")
    config = _on_store(
        _config(work, 1, adaptive_sweep(), epochs=1), f"postgresql://u@127.0.0.1:{port}/x"
    )
    result = snakemake(work, "--cores", "1", "--configfile", str(config))
    assert result.returncode != 0
    assert f"cannot reach the PostgreSQL server at host 127.0.0.1 port {port}" in result.stdout
    assert not (work / "results/sweep/sweep.json").exists()
    assert not (work / "results/sweep/stores").exists()
