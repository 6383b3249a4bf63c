"""The user's own code gets the guarantees the ConvNet's runs have: a deterministic program under
bayes plus hyperband (with at least one run stopped early), and a function whose only randomness
is an unseeded `random.random()`, each give a byte-identical leaderboard with 1 and with 3 agents
and after an agent is SIGKILLed mid-sweep and the pipeline is run again, and the program also
with 2 agents on the PostgreSQL store; `snakesweep verify` exits 0 on all of them. Then
`snakesweep retry` runs a sweep's failed runs again once the code is fixed, and no finished run
is redone."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import psutil
import pytest
import yaml
from test_faults import _agent_processes, _events, _start, _wait_for
from workflow_helpers import copy_workflow, run_pipeline, tiny_config

from snakesweep import paths
from snakesweep.record import stores
from snakesweep.record.events import Kind, kind_of
from snakesweep.record.state import fold

pytestmark = pytest.mark.slow

# A W&B user's argparse program: deterministic curves from its flags, one val_loss per epoch.
PROGRAM = """
import argparse, math, wandb
parser = argparse.ArgumentParser()
parser.add_argument("--learning_rate", type=float, default=0.01)
parser.add_argument("--width", type=int, default=32)
parser.add_argument("--epochs", type=int, default=4)
args = parser.parse_args()
with wandb.init(config=vars(args)) as run:
    floor = 0.1 + abs(math.log10(args.learning_rate / 0.003)) + 8 / args.width
    for epoch in range(1, args.epochs + 1):
        run.log({"epoch": epoch, "val_loss": floor + 2.0 / epoch, "width_seen": args.width})
"""
PROGRAM_SWEEP = {
    "program": "train.py",
    "method": "bayes",
    "run_cap": 8,
    "metric": {"name": "val_loss", "goal": "minimize"},
    # eta 3: a run not in the top third at epoch 1 or 3 stops (run 6 here, whatever the agents)
    "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 3},
    "parameters": {
        "learning_rate": {"distribution": "log_uniform_values", "min": 0.0001, "max": 0.1},
        "width": {"values": [8, 32, 128]},
    },
}

# A function whose only randomness is Python's unseeded `random`.
FUNCTION = """
import random, wandb

def train():
    with wandb.init(config={"scale": 1.0}) as run:
        for step in range(3):
            run.log({"loss": wandb.config.scale * random.random(), "draw": random.random()})
"""
FUNCTION_SWEEP = {
    "method": "random",
    "run_cap": 6,
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"scale": {"min": 0.5, "max": 2.0}},
}


def _workdir(tmp_path, name, code, sweep):
    work = copy_workflow(tmp_path / name)
    (work / "usercode").mkdir()
    (work / "usercode" / "train.py").write_text(code)
    (work / "usercode" / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    return work


def _config(work, agents, function=None):
    path = tiny_config(work, agents=agents)
    config = yaml.safe_load(path.read_text())
    config["sweep"].update(file="usercode/sweep.yaml", parallelism=3, function=function)
    path.write_text(yaml.safe_dump(config))
    return path


def _verify(work):
    result = subprocess.run(
        [sys.executable, "-m", "snakesweep.cli", "verify", "--results", str(work / "results")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _sigkill_an_agent_mid_sweep(work, config):
    """Start the pipeline, SIGKILL an agent once two runs have finished, let it fail, run again."""
    pipeline = _start(work, config)
    try:
        _wait_for(
            lambda: (
                sum(kind_of(e) == Kind.FINISH for e in _events(work)) >= 2
                and _agent_processes(work)
            ),
            what="two finished runs",
        )
        os.kill(_agent_processes(work)[0].pid, signal.SIGKILL)
        pipeline.communicate(timeout=900)
    finally:
        if pipeline.poll() is None:
            os.killpg(pipeline.pid, signal.SIGKILL)
    run_pipeline(work, config)  # whatever the killed agent left is finished now


def _on_database(config, url):
    """The config at `config`, with the sweep's events kept on the PostgreSQL server `url`."""
    values = yaml.safe_load(config.read_text())
    values["sweep"]["store"] = url
    config.write_text(yaml.safe_dump(values))


def _store_events(work):
    """The sweep's events from whichever store sweep.json names."""
    record = json.loads((work / paths.SWEEP).read_text())
    return stores.read_events(stores.in_results(work / "results", record["store"]))


@pytest.mark.parametrize("kind", ["program", "function"])
def test_the_same_leaderboard_with_1_and_3_agents_and_after_a_killed_agent(tmp_path, kind, request):
    """The program's sweep also runs with 2 agents on the PostgreSQL store (`postgres`)."""
    code, sweep, function = (
        (PROGRAM, PROGRAM_SWEEP, None)
        if kind == "program"
        else (FUNCTION, FUNCTION_SWEEP, "usercode/train.py:train")
    )
    boards = {}
    variants = [("one", 1), ("three", 3), ("killed", 2)]
    variants += [("database", 2)] if kind == "program" else []
    for label, agents in variants:
        work = _workdir(tmp_path, label, code, sweep)
        config = _config(work, agents, function)
        if label == "database":
            _on_database(config, request.getfixturevalue("postgres").url)
            run_pipeline(work, config, "--cores", "2")
        elif label == "killed":
            _sigkill_an_agent_mid_sweep(work, config)
        else:
            run_pipeline(work, config, "--cores", str(max(2, agents)))
        boards[label] = (work / "results/leaderboard.csv").read_bytes()
        assert "verified" in _verify(work)
        runs = fold(_store_events(work))
        assert len(runs) == sweep["run_cap"]
        if kind == "program":  # hyperband stopped at least one run, deterministically
            assert any(run.state == "stopped" for run in runs.values()), Counter(
                r.state for r in runs.values()
            )
        else:  # the unseeded draws differ from run to run: seeded per run, not once for all
            draws = {run.summary["draw"] for run in runs.values()}
            assert len(draws) == len(runs)
    assert all(board == boards["one"] for board in boards.values()), boards


FLAKY = """
import os, sys, wandb
with wandb.init(config={"lr": 0.1}) as run:
    if wandb.config.lr > 0.5 and not os.path.exists(os.environ["FIXED_FLAG"]):
        sys.exit("a bug: lr " + str(wandb.config.lr))
    run.log({"val_loss": wandb.config.lr})
"""


def test_retry_runs_the_failed_runs_again_and_redoes_no_finished_one(tmp_path):
    sweep = {
        "program": "train.py",
        "method": "grid",
        "metric": {"name": "val_loss", "goal": "minimize"},
        "parameters": {"lr": {"values": [0.1, 0.9, 0.2, 0.8]}},
    }
    work = _workdir(tmp_path, "w", FLAKY, sweep)
    config = _config(work, 2)
    flag = tmp_path / "fixed"
    env = {**os.environ, "FIXED_FLAG": str(flag)}
    run_pipeline(work, config, env=env)
    before = fold(_events(work))
    failed = sorted(r.run_id for r in before.values() if r.state == "failed")
    assert len(failed) == 2 and all("a bug: lr" in before[r].reason for r in failed)

    flag.touch()  # the user fixes the code
    retried = subprocess.run(
        [sys.executable, "-m", "snakesweep.cli", "retry", "--results", str(work / "results")],
        capture_output=True,
        text=True,
        cwd=work,
    )
    assert retried.returncode == 0 and all(run_id in retried.stdout for run_id in failed), (
        retried.stdout
    )
    run_pipeline(work, config, env=env)
    after = fold(_events(work))
    assert {r.run_id: r.state for r in after.values()} == dict.fromkeys(before, "finished")
    claims = Counter(e["run"] for e in _events(work) if kind_of(e) == Kind.CLAIM)
    assert all(claims[r] == (2 if r in failed else 1) for r in before)  # no finished run redone
    for run_id in failed:  # same index, config and seed
        assert (after[run_id].index, after[run_id].config) == (
            before[run_id].index,
            before[run_id].config,
        )
        metrics = json.loads((work / paths.run_dir(run_id) / paths.RUN_METRICS).read_text())
        assert metrics["state"] == "finished"
    assert "verified" in _verify(work)


# A W&B user's program that is stopped in the middle of a run: slow epochs, a checkpoint in the
# run's own folder after each (when CHECKPOINTS), and on resuming its earlier rows logged again
# (as docs/preemption.md advises) and `wandb.run.resumed` written down for the test to see.
STOPPABLE = """
import argparse, json, os, time, wandb
CHECKPOINTS = True
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float)
parser.add_argument("--epochs", type=int, default=6)
args = parser.parse_args()
folder = os.environ["SNAKESWEEP_RUN_DIR"]
saved = os.path.join(folder, "checkpoint.json")
with wandb.init(config=vars(args)) as run:
    rows = []
    if CHECKPOINTS and os.path.exists(saved):
        rows = json.load(open(saved))
        open(os.path.join(folder, "resumed.txt"), "w").write(str(run.resumed))
        for row in rows:
            run.log(row)
    for epoch in range(len(rows) + 1, args.epochs + 1):
        time.sleep(0.4)
        rows.append({"epoch": epoch, "val_loss": args.lr + 1.0 / epoch})
        run.log(rows[-1])
        if CHECKPOINTS:
            json.dump(rows, open(saved + ".tmp", "w"))
            os.replace(saved + ".tmp", saved)
"""
STOPPABLE_SWEEP = {
    "program": "train.py",
    "method": "grid",
    "metric": {"name": "val_loss", "goal": "minimize"},
    "parameters": {"lr": {"values": [0.3, 0.1]}},
}


@pytest.fixture(scope="module")
def undisturbed_program_board(tmp_path_factory):
    work = _workdir(tmp_path_factory.mktemp("undisturbed"), "w", STOPPABLE, STOPPABLE_SWEEP)
    run_pipeline(work, _config(work, 1))
    return (work / paths.LEADERBOARD).read_bytes()


@pytest.mark.parametrize("checkpoints", [True, False], ids=["checkpoints", "restarts"])
def test_sigterm_to_an_agent_mid_run_resumes_a_users_program(
    tmp_path, undisturbed_program_board, checkpoints
):
    """SLURM's end of a job, for a user's program: SIGTERM to the agent once the run has logged
    an epoch. The agent is gone within KillWait with no process of the run left, the run is
    recorded interrupted at once, and Snakemake's `retries:` starts the agent again, which
    resumes it: a program that checkpoints in its run folder continues with `wandb.run.resumed`
    true, one that does not starts again; the leaderboard is the undisturbed sweep's, byte for
    byte, and the record passes `snakesweep verify`."""
    code = STOPPABLE.replace("CHECKPOINTS = True", f"CHECKPOINTS = {checkpoints}")
    work = _workdir(tmp_path, "w", code, STOPPABLE_SWEEP)
    config = _config(work, 1)
    pipeline = _start(work, config)
    try:
        _wait_for(
            lambda: (
                any(kind_of(e) == Kind.METRIC for e in _events(work)) and _agent_processes(work)
            ),
            what="a logged epoch",
        )
        agent = _agent_processes(work)[0]
        below = agent.children(recursive=True)  # the run's processes among them
        agent.send_signal(signal.SIGTERM)
        started = time.monotonic()
        agent.wait(timeout=60)
        assert time.monotonic() - started < 35
        assert not [p for p in below if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        out, _ = pipeline.communicate(timeout=600)  # its `retries:` starts the agent again
    finally:
        if pipeline.poll() is None:
            os.killpg(pipeline.pid, signal.SIGKILL)
    assert pipeline.returncode == 0, out[-5000:]
    (interrupted,) = [e["run"] for e in _events(work) if kind_of(e) == Kind.INTERRUPTED]
    runs = fold(_events(work))
    assert {r.state for r in runs.values()} == {"finished"} and runs[interrupted].attempt == 2
    marker = work / paths.run_dir(interrupted) / paths.RUN_FILES / "resumed.txt"
    assert (marker.read_text() if marker.exists() else None) == ("True" if checkpoints else None)
    assert (work / paths.LEADERBOARD).read_bytes() == undisturbed_program_board
    assert "verified" in _verify(work)
