"""A run of the user's code whose agent is told to end (SIGTERM, as SLURM sends at a time limit
or on preemption), and a run whose watching goes wrong: real programs through the agent loop
with a real local controller, as in test_runner.

- The agent passes SIGTERM to its run, gives the run's own SIGTERM handler the time it needs (10
  s here) to save a checkpoint, records the run interrupted at once, leaves no process behind,
  and raises `Interrupted`; the next agent resumes the run into the same W&B run
  (`wandb.run.resumed`), in its own folder, and the result equals an undisturbed sweep's.
- A program that does not checkpoint starts again; its first attempt's rows are not mixed in.
- An unreadable wandb log (a format this version does not know) fails the run with the reason,
  only after every process of the run is gone.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from controller_helpers import make_controller
from record_helpers import sweep_record
from test_runner import (
    assert_all_gone,
    grid,
    metrics_json,
    program_sweep,
    run_dir,
    run_sweep,
    work,  # noqa: F401 - a fixture
    write_code,
)

from snakesweep import objective, stopping
from snakesweep.agent.loop import run_agent
from snakesweep.record.state import FAILED, FINISHED, INTERRUPTED, fold
from snakesweep.record.store import EventLog
from snakesweep.record.sweep_record import FUNCTION, Objective
from snakesweep.settings import Config
from snakesweep.usercode import process

CHECKPOINTING = """\
    import json
    import os
    import signal
    import sys
    import time

    import wandb

    run = wandb.init()
    state = {"epoch": 0, "loss": float(wandb.config.loss)}
    folder = os.environ["SNAKESWEEP_RUN_DIR"]
    saved = os.path.join(folder, "checkpoint.json")
    if os.path.exists(saved):
        with open(saved) as handle:
            state = json.load(handle)
    with open(os.path.join(folder, "resumed-%d.txt" % state["epoch"]), "w") as handle:
        handle.write(str(run.resumed))

    def save(signum, frame):
        time.sleep(10)  # a slow save: the agent must wait for it
        with open(saved + ".tmp", "w") as handle:
            json.dump(state, handle)
        os.replace(saved + ".tmp", saved)
        sys.exit(0)

    if wandb.config.checkpoint:
        signal.signal(signal.SIGTERM, save)
    with open(os.path.join(folder, "pid"), "w") as handle:
        handle.write(str(os.getpid()))
    while state["epoch"] < 6:
        state["epoch"] += 1
        state["loss"] = state["loss"] / 2
        wandb.log({"val_loss": state["loss"], "epoch": state["epoch"]})
        time.sleep(0.4)
    run.finish()
"""


def _interrupt_when(path_glob: str, after: float) -> threading.Thread:
    """SIGTERM to this process (the agent) once a file matching `path_glob` appears."""

    def send():
        deadline = time.monotonic() + 60
        while not list(Path().glob(path_glob)) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(after)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow  # real runs of real programs, and a 10 s save
@pytest.mark.parametrize("checkpoint", [True, False])
def test_sigterm_interrupts_the_run_and_the_next_agent_resumes_it(work, checkpoint):  # noqa: F811
    program = write_code(work, "train.py", CHECKPOINTING)
    sweep = program_sweep(program, grid(loss=[1.0], checkpoint=[checkpoint]))
    before = process.descendants()
    started = time.monotonic()
    _interrupt_when("results/runs/*/files/pid", after=1.0)
    with stopping.handled(), pytest.raises(stopping.Interrupted):
        run_sweep(sweep, 1)
    took = time.monotonic() - started
    assert took < 35, took
    assert process.descendants() <= before  # nothing of the run is left
    events = EventLog("store.log").read()
    assert events[-1]["event"] == INTERRUPTED  # at once, not after a heartbeat timeout
    run_id = events[-1]["run"]
    pid = int((run_dir(run_id) / "files" / "pid").read_text())
    assert_all_gone([pid])
    checkpoint_file = run_dir(run_id) / "files" / "checkpoint.json"
    if checkpoint:
        assert took > 10, took  # the save had the time it needed
        saved_epoch = json.loads(checkpoint_file.read_text())["epoch"]
        assert 1 <= saved_epoch < 6
    else:
        assert not checkpoint_file.exists()

    result, runs = run_sweep(sweep, 1, agent="agent-1")  # the next try (Snakemake's rerun)
    (run,) = runs.values()
    assert run.state == FINISHED and run.attempt == 2, run.reason
    assert run.summary["val_loss"] == 1.0 / 2**6 and run.summary["epoch"] == 6
    files = run_dir(run_id) / "files"
    if checkpoint:
        assert (files / f"resumed-{saved_epoch}.txt").read_text() == "True"
        rows = metrics_json(run_id)["history"]
        assert [row["epoch"] for row in rows] == list(range(saved_epoch + 1, 7))
    else:
        assert (files / "resumed-0.txt").read_text() == "True"  # same W&B run, started again
        rows = metrics_json(run_id)["history"]
        assert [row["epoch"] for row in rows] == list(range(1, 7))  # none of the first try's


@pytest.mark.slow  # a real program
def test_a_run_killed_by_the_job_wide_sigterm_just_before_its_agent_is_interrupted(work):  # noqa: F811
    """SLURM signals every process of the job at once: the run can die of the SIGTERM before
    the agent's handler has run. It is recorded interrupted, to be resumed, not failed."""
    program = write_code(work, "train.py", CHECKPOINTING)
    sweep = program_sweep(program, grid(loss=[1.0], checkpoint=[False]))

    def job_wide_sigterm():
        deadline = time.monotonic() + 60
        while not list(Path().glob("results/runs/*/files/pid")) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        (pid_file,) = Path().glob("results/runs/*/files/pid")
        os.kill(int(pid_file.read_text()), signal.SIGTERM)  # the run first, dying of it at once
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGTERM)  # then the agent

    threading.Thread(target=job_wide_sigterm, daemon=True).start()
    with stopping.handled(), pytest.raises(stopping.Interrupted):
        run_sweep(sweep, 1)
    events = EventLog("store.log").read()
    assert [e["event"] for e in events] == ["claim", *["metric"] * (len(events) - 2), INTERRUPTED]


UNREADABLE = """\
    import json
    import os
    import subprocess
    import sys
    import time

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with open("pids.json", "w") as handle:
        json.dump([os.getpid(), child.pid], handle)
    folder = os.path.join(os.environ["WANDB_DIR"], "wandb", "offline-run-20260101_000000-x")
    os.makedirs(folder)
    with open(os.path.join(folder, "run-x.wandb"), "wb") as handle:
        handle.write(b":W&B" + bytes([0xE1, 0xBE, 9]))  # a log format version this one cannot read
    time.sleep(60)
"""


@pytest.mark.slow  # a real program
def test_a_reader_error_fails_the_run_only_after_its_processes_are_gone(work):  # noqa: F811
    program = write_code(work, "train.py", UNREADABLE)
    before = process.descendants()
    result, runs = run_sweep(program_sweep(program, grid(loss=[1.0])), 1)
    (run,) = runs.values()
    assert run.state == FAILED and "TransactionLogError" in run.reason, run.reason
    assert_all_gone(json.loads((run_dir(run.run_id) / "files" / "pids.json").read_text()))
    assert process.descendants() <= before


LOGS_AND_RETURNS = """\
    import wandb


    def train():
        wandb.init()
        wandb.log({"val_loss": float(wandb.config.x)})
        wandb.log({"val_loss": float(wandb.config.x) / 2, "last": wandb.config.x})
"""


@pytest.mark.slow  # 100 real function runs
def test_the_last_row_of_a_function_that_logs_and_returns_at_once_is_always_recorded(work):  # noqa: F811
    code = write_code(work, "code/train.py", LOGS_AND_RETURNS)
    chosen = Objective(FUNCTION, function=f"{code}:train", run_timeout=60)
    result, runs = run_sweep(sweep_record(grid(x=list(range(100))), objective=chosen), 100)
    assert len(runs) == 100
    for run in runs.values():
        assert run.state == FINISHED, run.reason
        x = run.config["x"]
        assert run.summary["last"] == x and run.summary["val_loss"] == x / 2
        assert metrics_json(run.run_id)["history"][-1]["last"] == x


@pytest.mark.slow  # real function runs
@pytest.mark.parametrize("raised", ["KeyError('DATA_ROOT')", "SystemExit('no data here')"])
def test_a_module_that_raises_at_import_fails_each_run_with_its_traceback(work, raised):  # noqa: F811
    code = write_code(work, "code/broken.py", f"raise {raised}\n\ndef train():\n    pass\n")
    chosen = Objective(FUNCTION, function=f"{code}:train", run_timeout=60)
    result, runs = run_sweep(sweep_record(grid(x=[1, 2]), objective=chosen), 2)
    assert [run.state for run in runs.values()] == [FAILED, FAILED]
    assert [run["state"] for run in result["runs"]] == [FAILED, FAILED]  # the agent went on
    for run in runs.values():
        kind = raised.split("(")[0]
        assert f"importing broken raised {kind}" in run.reason, run.reason
        stderr = (run_dir(run.run_id) / "stderr.log").read_text()
        assert "Traceback" in stderr and "broken.py" in stderr, stderr


RELATIVE_DATA = """\
    import os

    import wandb

    run = wandb.init()
    with open("data/train.csv") as handle:  # relative to where the user works
        rows = [float(line) for line in handle if line.strip()]
    with open(os.path.join(os.environ["SNAKESWEEP_RUN_DIR"], "seen.txt"), "w") as handle:
        handle.write(str(len(rows)))
    wandb.log({"val_loss": sum(rows) * wandb.config.x})
    run.finish()
"""


@pytest.mark.slow  # a real program
def test_a_program_reads_a_relative_data_path_where_wandb_agent_would_start_it(work):  # noqa: F811
    program = write_code(work, "train.py", RELATIVE_DATA)
    write_code(work, "data/train.csv", "1\n2\n")
    settings = Config({"agents": {"device": "cpu", "threads": 1, "workdir": "project"}}).agent()
    sweep = program_sweep(program, grid(x=[0.5]))
    controller = make_controller("store.log", sweep.config, sweep.seed)
    with objective.runs(sweep, settings, None, "cpu") as train_one:
        run_agent(controller, "agent-0", 1, train_one, heartbeat_interval=30.0, wait_seconds=0.1)
    (run,) = fold(EventLog("store.log").read()).values()
    assert run.state == FINISHED and run.summary["val_loss"] == 1.5, run.reason
    assert (run_dir(run.run_id) / "files" / "seen.txt").read_text() == "2"


ELSEWHERE = """\
    import os
    import tempfile

    import wandb

    run = wandb.init(dir=tempfile.mkdtemp())
    wandb.log({"val_loss": 0.5})
    run.finish()
"""


@pytest.mark.slow  # a real program
def test_a_log_written_outside_wandb_dir_is_named_in_the_reason(work):  # noqa: F811
    program = write_code(work, "train.py", ELSEWHERE)
    result, runs = run_sweep(program_sweep(program, grid(x=[1])), 1)
    (run,) = runs.values()
    assert run.state == FAILED and "wandb.init(dir=...)" in run.reason, run.reason


MAIN_GUARDED = """\
    import wandb


    def train():
        wandb.init()
        wandb.log({"val_loss": SCALE * wandb.config.x})


    if __name__ == "__main__":
        SCALE = 2.0
        wandb.agent("sweep-id", function=train)
"""


@pytest.mark.slow  # real function runs
def test_a_function_needing_main_guarded_globals_fails_saying_why(work):  # noqa: F811
    code = write_code(work, "code/guarded.py", MAIN_GUARDED)
    chosen = Objective(FUNCTION, function=f"{code}:train", run_timeout=60)
    result, runs = run_sweep(sweep_record(grid(x=[1]), objective=chosen), 1)
    (run,) = runs.values()
    assert run.state == FAILED and "NameError" in run.reason, run.reason
    assert "not run as __main__" in run.reason
