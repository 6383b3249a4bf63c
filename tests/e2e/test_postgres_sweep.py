"""A sweep on the PostgreSQL store, end to end with the real `snakemake` and a real server (the
`postgres` fixture): bayes + hyperband on the ConvNet at tiny size, run by 3 agents while the
server is restarted under them (`pg_ctl restart -m fast`), ends with the same leaderboard and
best model, byte for byte, as the same sweep run by one agent on the file store; `verify`
proves the database's record; and the planted password is nowhere: not in results/,
.snakemake/, the logs, the console, nor the argv of any process of the sweep. A server that
cannot be reached stops the sweep at registration with one line, and nothing written."""

import json
import socket
import subprocess
import sys
import threading
import time

import psutil
import pytest
import yaml
from test_adaptive_reproducibility import _config, _outputs, _verify, adaptive_sweep
from workflow_helpers import copy_workflow, run_pipeline, snakemake

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


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The adaptive sweep with one agent on the file store."""
    work = copy_workflow(tmp_path_factory.mktemp("file1") / "w")
    run_pipeline(work, _config(work, 1, adaptive_sweep(), epochs=3))
    return work


@pytest.fixture(scope="module")
def restarted(postgres, tmp_path_factory):
    """The same sweep with 3 agents on the database, the server restarted once a run has
    finished and others are training: (workdir, console, command lines seen)."""
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
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and pipeline.poll() is None:
            events = _events(work)
            running = sum(r.state == "running" for r in fold(events).values())
            if any(kind_of(e) == Kind.FINISH for e in events) and running >= 1:
                postgres.restart()
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the sweep never had a finished run and one training")
        console, _ = pipeline.communicate(timeout=900)
    finally:
        watch.stop.set()
        if pipeline.poll() is None:
            pipeline.kill()
    assert pipeline.returncode == 0, console[-5000:]
    return work, console, watch.seen


def test_a_restart_under_3_agents_changes_nothing(restarted, reference):
    work, console, _ = restarted
    assert _outputs(work) == _outputs(reference)
    events = _events(work)
    claims = sorted(e["index"] for e in events if kind_of(e) == Kind.CLAIM)
    finishes = [e["run"] for e in events if kind_of(e) == Kind.FINISH]
    assert len(finishes) == len(set(finishes)) == 6  # every run ended exactly once
    assert claims[:6] == list(range(6))
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
