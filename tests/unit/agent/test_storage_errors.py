"""A full or read-only disk, without root: the error is injected in-process where the disk would
report it (the fsync of a file under results/runs/), and everything else is the real code.

A full or read-only disk is not the run's fault: the agent job stops with one line saying so,
its run stays "running" in the store, and it is handed out again once there is room, to the
restarted agent at once or to another agent after the heartbeat timeout."""

import errno
import json
import os
import time
from pathlib import Path

import pytest
from controller_helpers import claim, make_controller

from snakesweep import objective, paths
from snakesweep.agent.job import run_agent_job
from snakesweep.agent.loop import run_agent
from snakesweep.atomic import write_json
from snakesweep.data.arrays import array_sha256, load_arrays
from snakesweep.data.dataset import DataFiles
from snakesweep.logs import job_logging
from snakesweep.record.state import fold
from snakesweep.record.store import EventLog
from snakesweep.record.sweep_record import SweepRecord
from snakesweep.settings import Config

SWEEP = {
    "method": "grid",
    "metric": {"name": "val_accuracy", "goal": "maximize"},
    "parameters": {"learning_rate": {"values": [0.001, 0.003]}},
}
NO_SPACE = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _runs(store):
    return fold(EventLog(store).read())


def _writes_fail_under(monkeypatch, folder: Path, code: int):
    """Every fsync of a file under `folder` fails with errno `code`, as on a full (ENOSPC) or
    read-only (EROFS) disk; other files are written as usual."""
    real_fsync = os.fsync

    def fsync(fd):
        fd = fd if isinstance(fd, int) else fd.fileno()
        if Path(os.readlink(f"/proc/self/fd/{fd}")).is_relative_to(folder.resolve()):
            raise OSError(code, os.strerror(code))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)


@pytest.mark.parametrize("taker", ["restarted agent", "another agent"])
def test_a_run_whose_agent_cannot_write_is_handed_out_again(tmp_path, taker):
    store, timeout = tmp_path / "store.log", 0.5
    controller = make_controller(store, SWEEP, 0, heartbeat_timeout=timeout)

    def disk_full(claim, on_epoch):
        raise NO_SPACE

    with pytest.raises(OSError) as raised:
        run_agent(controller, "a", 5, disk_full, heartbeat_interval=60)
    assert raised.value.errno == errno.ENOSPC  # the agent stops: no other run would fare better
    (left,) = _runs(store).values()
    assert (left.state, left.attempt) == ("running", 1)  # neither failed nor finished

    if taker == "restarted agent":  # Snakemake's `retries:`, or the pipeline run again: at once
        agent, other = "a", make_controller(store, SWEEP, 0, heartbeat_timeout=60)
        assert other.start_agent("a") == [left.run_id]
    else:  # once the run's heartbeat is overdue
        agent, other = "b", make_controller(store, SWEEP, 0, heartbeat_timeout=timeout)
        time.sleep(timeout + 0.2)
    held = claim(other, agent)
    assert (held.run_id, held.config, held.attempt) == (left.run_id, left.config, 2)
    other.finish(held.run_id, {"state": "finished", "summary": {"val_accuracy": 0.9}})
    assert _runs(store)[left.run_id].state == "finished"


# The sweep's config: the tiny data, one epoch per run, no W&B run, on the CPU.
CONFIG = Config(
    {
        "sweep": {"file": "sweep.yaml", "project": "p", "heartbeat_timeout": 60},
        "agents": {"runs": 5, "device": "cpu", "threads": 1},
        "wandb": {"mode": "disabled"},
        "train": {"epochs": 1},
    }
)
DATA = DataFiles("data/mnist.npz", "data/manifest.json")


@pytest.fixture
def registered(tmp_path, monkeypatch, tiny_npz):
    """A registered local sweep over the tiny data, in `tmp_path` as the working directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / DATA.dataset).write_bytes(Path(tiny_npz).read_bytes())
    arrays = load_arrays(tiny_npz)
    write_json(
        tmp_path / DATA.manifest, {"sha256": {k: array_sha256(v) for k, v in arrays.items()}}
    )
    (tmp_path / "sweep.yaml").write_text(json.dumps(SWEEP))
    objective.register(CONFIG.register(), DATA, paths.SWEEP, paths.RETRIES)
    return tmp_path


def _agent_job(log):
    with job_logging(log):
        run_agent_job(CONFIG.agent(), paths.SWEEP, DATA, "0", paths.agent_output(0))


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (errno.ENOSPC, "No space left on device [errno 28]"),
        (errno.EROFS, "Read-only file system [errno 30]"),
    ],
    ids=["disk-full", "read-only"],
)
def test_a_full_disk_stops_the_agent_job_with_one_line_and_the_rerun_finishes(
    registered, monkeypatch, code, message
):
    work = registered
    with monkeypatch.context() as disk:
        _writes_fail_under(disk, work / paths.RUNS_DIR, code)
        with pytest.raises(SystemExit) as exited:
            _agent_job(work / "agent-0.log")
    assert exited.value.code == 1
    log = (work / "agent-0.log").read_text()
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "Traceback" not in log, log
    assert f"{paths.RUNS_DIR}/" in errors[0] and message in errors[0]
    assert "free some space or make results/ writable" in errors[0]
    store = SweepRecord.load(paths.SWEEP).store
    (left,) = _runs(store).values()
    assert left.state == "running" and not Path(paths.agent_output(0)).exists()

    _agent_job(work / "agent-0.log")  # there is room again: the same job, run again
    runs = _runs(store)
    assert {r.state for r in runs.values()} == {"finished"} and len(runs) == 2
    assert runs[left.run_id].attempt == 2
    assert Path(paths.agent_output(0)).exists()


def test_a_job_leaves_its_objects_out_of_the_exit_collection(tmp_path):
    """Interpreter shutdown collected every object torch had made (1.6-1.9 s per agent): a job
    freezes them at exit, after the other exit handlers, whether it succeeded or not."""
    import subprocess
    import sys

    code = (
        "import atexit, gc, sys\n"
        "from snakesweep.logs import job_logging\n"
        # registered before the job's own handler, so it runs after it
        "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0))\n"
        "with job_logging(sys.argv[1]):\n"
        "    print('frozen', gc.get_freeze_count() > 0)\n"
        "    if sys.argv[2] == 'fail':\n"
        "        from snakesweep.errors import UserError\n"
        "        raise UserError('bad')\n"
    )
    for outcome, rc in (("ok", 0), ("fail", 1)):
        done = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / "job.log"), outcome],
            capture_output=True,
            text=True,
        )
        assert (done.returncode, done.stdout.split()) == (
            rc,
            ["frozen", "False", "frozen", "True"],
        ), done.stderr
