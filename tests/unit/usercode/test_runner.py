"""The user's own code, run as a sweep's `program` or `function`: real programs and functions
written the way W&B users write them (`wandb.init()`, `wandb.config`, `wandb.log`, argparse
`--k=v`), offline, each through the sweep's objective as the agent job runs it
(`snakesweep.objective.runs`, the runner's `UserCodeRuns`) and the agent loop with a real local
controller on a store in tmp_path, checked in the store and in the run's folder: failures and
their reasons, a missing or non-finite metric, the run timeout and early termination ending
every process of the run, parameters that look like shell code, the W&B API key kept out of
every file, and function runs that start from the same state. First, what every run sees and the
folder it starts in."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from controller_helpers import make_controller
from record_helpers import sweep_record

from snakesweep import objective, paths
from snakesweep.agent.loop import run_agent
from snakesweep.data.dataset import DataFiles
from snakesweep.record.state import FAILED, FINISHED, STOPPED, fold
from snakesweep.record.store import EventLog
from snakesweep.record.sweep_record import FUNCTION, PROGRAM, Objective, SweepRecord
from snakesweep.settings import Config
from snakesweep.sweep.metric import score
from snakesweep.usercode import process
from snakesweep.usercode.runner import base_environ, fresh_run_dir, visible_gpu
from snakesweep.usercode.watch import FLUSH_ENV

STORE = "store.log"
METRIC = {"name": "val_loss", "goal": "minimize"}
AGENT = Config({"agents": {"device": "cpu", "threads": 1}, "wandb": {"mode": "offline"}}).agent()


@pytest.fixture
def work(tmp_path, monkeypatch):
    """tmp_path as the agent's working folder (its runs go to results/runs/ there)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_code(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


def grid(**values) -> dict:
    """A grid sweep over `values` (name -> list), minimizing val_loss."""
    return {
        "method": "grid",
        "metric": METRIC,
        "parameters": {k: {"values": v} for k, v in values.items()},
    }


def program_sweep(program: Path, config: dict, run_timeout: float | None = None) -> SweepRecord:
    chosen = Objective(PROGRAM, str(program), command=None, run_timeout=run_timeout)
    return sweep_record(config, objective=chosen)


def run_sweep(
    sweep: SweepRecord, runs: int, parallelism: int = 1, agent: str = "agent-0"
) -> tuple[dict, dict]:
    """Run `runs` runs of the sweep in one agent, in the cwd; (the agent's result, the store's
    runs). The runs find the agent's folder through the dataset's path (`SNAKESWEEP_DATA`)."""
    controller = make_controller(STORE, sweep.config, sweep.seed, parallelism=parallelism)
    data = Path("data.npz")
    data.write_bytes(b"")
    with objective.runs(sweep, AGENT, DataFiles(str(data)), "cpu") as train_one:
        result = run_agent(
            controller, agent, runs, train_one, heartbeat_interval=30.0, wait_seconds=0.1
        )
    return result, fold(EventLog(STORE).read())


def run_dir(run_id: str) -> Path:
    return Path(paths.run_dir(run_id))


def metrics_json(run_id: str) -> dict:
    return json.loads((run_dir(run_id) / paths.RUN_METRICS).read_text())


def only(runs: dict):
    assert len(runs) == 1, runs
    return next(iter(runs.values()))


def assert_all_gone(pids: list[int]) -> None:
    """No process of `pids` is left: each is gone, or a zombie of ours, reaped here."""
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        stat = Path(f"/proc/{pid}/stat")
        try:
            text = stat.read_text()
        except FileNotFoundError:
            continue
        state, parent = text[text.rindex(")") + 2 :].split()[:2]
        if state == "Z":
            if int(parent) == os.getpid():
                os.waitpid(pid, 0)
            continue
        alive.append((pid, state, text.split(")")[0]))
    for pid, _, _ in alive:  # no sleeper outlives a failed test
        os.kill(pid, signal.SIGKILL)
    assert not alive, f"processes of the run are still there: {alive}"


# 0. What every run sees (its GPU, its environment) and the folder it starts in.


def test_a_run_sees_only_its_agents_gpu_or_none():
    assert visible_gpu("cpu", "0,1") == ""
    assert visible_gpu("cuda:1", None) == "1"
    assert visible_gpu("cuda:1", "4,7") == "7"  # the second of the GPUs the agent was given
    assert visible_gpu("cuda:0", "3") == "3"  # under SLURM: the GPU SLURM assigned


def test_the_runs_environment(tmp_path):
    data = DataFiles(str(tmp_path / "d.npz"))
    env = base_environ({"PATH": "/usr/bin", "HOME": "/root"}, data, "cpu", 2, "offline")
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
        base_environ({FLUSH_ENV: "1"}, data, "cpu", 1, "offline")[FLUSH_ENV] == "1"
    )  # the user's choice stays


def test_without_a_data_stage_a_run_is_told_of_no_dataset():
    env = base_environ({"SNAKESWEEP_DATA": "theirs.npz"}, None, "cpu", 1, "offline")
    assert env["SNAKESWEEP_DATA"] == "theirs.npz"  # the agent's own environment, untouched
    assert "SNAKESWEEP_DATA" not in base_environ({}, None, "cpu", 1, "offline")


def test_a_retried_run_starts_in_an_empty_folder(tmp_path):
    run = tmp_path / "0001-abcdef01"
    (run / paths.RUN_FILES).mkdir(parents=True)
    (run / paths.RUN_FILES / "model.onnx").write_bytes(b"an earlier attempt's")
    (run / paths.STDERR_FILE).write_text("an earlier attempt's traceback")
    assert fresh_run_dir(run) == run
    assert [p.relative_to(run) for p in run.rglob("*")] == [Path(paths.RUN_FILES)]
    assert fresh_run_dir(tmp_path / "new") == tmp_path / "new"
    assert (tmp_path / "new" / paths.RUN_FILES).is_dir()


# 1. A non-zero exit fails the run, with its exit code and the end of its stderr.

FAILING = """\
    import sys
    import wandb

    run = wandb.init()
    wandb.log({"val_loss": 0.5})
    print("loading the data", file=sys.stderr)
    print("ValueError: learning rate %s is too high" % wandb.config.learning_rate, file=sys.stderr)
    sys.exit(3)
"""


@pytest.mark.slow  # real runs of real programs
def test_a_non_zero_exit_fails_the_run_with_its_exit_code_and_stderr(work, caplog):
    caplog.set_level(logging.INFO, logger="snakesweep")
    program = write_code(work, "train.py", FAILING)
    result, runs = run_sweep(program_sweep(program, grid(learning_rate=[0.25])), 1)

    run = only(runs)
    assert run.state == FAILED and result["runs"][0]["state"] == FAILED
    assert "exit code 3" in run.reason
    assert "ValueError: learning rate 0.25 is too high" in run.reason
    assert "loading the data" in run.reason
    assert "exit code 3" in caplog.text and "learning rate 0.25 is too high" in caplog.text
    record = metrics_json(run.run_id)
    assert record["state"] == FAILED and record["exit_code"] == 3 and record["reason"] == run.reason
    assert "learning rate 0.25 is too high" in (run_dir(run.run_id) / paths.STDERR_FILE).read_text()


# 2. A run that never logs the sweep metric fails, and says which metric.

NO_METRIC = """\
    import wandb

    run = wandb.init()
    for step in range(3):
        wandb.log({"train_loss": 1.0 / (step + 1), "accuracy": 0.5})
    run.finish()
"""


@pytest.mark.slow  # real runs of real programs
def test_a_run_that_never_logs_the_sweep_metric_fails_naming_it(work):
    program = write_code(work, "train.py", NO_METRIC)
    result, runs = run_sweep(program_sweep(program, grid(learning_rate=[0.1])), 1)

    run = only(runs)
    assert run.state == FAILED
    assert "'val_loss'" in run.reason and "never logged" in run.reason
    assert run.summary["train_loss"] == pytest.approx(1 / 3)  # what it did log is kept
    assert metrics_json(run.run_id)["exit_code"] == 0


# 3. NaN and infinity are recorded, never ranked, and the sweep goes on.

NON_FINITE = """\
    import os
    from pathlib import Path

    import wandb

    counter = Path(os.environ["SNAKESWEEP_DATA"]).with_name("runs-so-far")  # in the agent's folder
    done = len(counter.read_text()) if counter.exists() else 0
    counter.write_text("x" * (done + 1))
    outcome = ["nan", "inf", "-inf", "0.25"][done]
    run = wandb.init()
    for step in range(2):
        wandb.log({"val_loss": float(outcome), "lr": wandb.config.lr})
    run.finish()
"""


@pytest.mark.slow  # real runs of real programs
def test_nan_and_infinite_metrics_are_recorded_not_ranked_and_the_sweep_goes_on(work):
    program = write_code(work, "train.py", NON_FINITE)
    # bayes and hyperband both read the recorded values back: run 3 is suggested from runs 0
    # and 1 (NaN and infinity), and every report is a stop decision over the runs before
    config = {
        "method": "bayes",
        "metric": METRIC,
        "parameters": {"lr": {"min": 0.001, "max": 0.1}},
        "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 2},
    }
    result, runs = run_sweep(program_sweep(program, config), 4)

    assert [r["state"] for r in result["runs"]] == [FINISHED] * 4
    by_index = sorted(runs.values(), key=lambda r: r.index)
    for run, outcome in zip(by_index, ["nan", "inf", "-inf"], strict=False):
        assert run.state == FINISHED, run.reason
        assert [point["value"] for point in run.history] == [outcome, outcome]
        assert run.summary["val_loss"] == outcome
        assert score(run.state, run.summary, "val_loss") is None
        assert metrics_json(run.run_id)["summary"]["val_loss"] == outcome
        assert [row["val_loss"] for row in metrics_json(run.run_id)["history"]] == [
            outcome,
            outcome,
        ]
    finite = by_index[3]
    assert score(finite.state, finite.summary, "val_loss") == 0.25
    assert len({run.config["lr"] for run in by_index}) == 4


# 4. The run timeout ends the run and every process it started.

SLEEPER = """\
    import json
    import os
    import subprocess
    import sys
    import time

    import wandb

    child = os.fork()
    if child == 0:  # a worker, in the run's process group
        time.sleep(60)
        os._exit(0)
    # a process that leaves the group on purpose, in a session of its own
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    away = subprocess.Popen(sleeper, start_new_session=True)
    with open("pids.json.tmp", "w") as handle:
        json.dump([os.getpid(), child, away.pid], handle)
    os.rename("pids.json.tmp", "pids.json")
    run = wandb.init()
    wandb.log({"val_loss": 1.0})
    time.sleep(60)
"""


@pytest.mark.slow  # real runs of real programs
def test_a_run_past_its_time_limit_is_ended_with_all_its_processes(work):
    program = write_code(work, "train.py", SLEEPER)
    before = process.descendants()
    result, runs = run_sweep(program_sweep(program, grid(learning_rate=[0.1]), run_timeout=3), 1)

    run = only(runs)
    assert run.state == FAILED
    assert "timed out after 3 s" in run.reason
    pids = json.loads((run_dir(run.run_id) / paths.RUN_FILES / "pids.json").read_text())
    assert len(pids) == 3
    assert_all_gone(pids)
    assert process.descendants() <= before  # wandb's service too
    # SIGTERM ended it (its group and the orphan in its own session right after), so well
    # before the 60 s it would sleep, and without waiting out the SIGTERM/SIGKILL graces
    took = metrics_json(run.run_id)["timing"]["total_seconds"]
    assert took < 3 + process.CLEAR_SECONDS + 2, took


# 5. Early termination stops a run, and every process of it.

HYPERBAND = """\
    import json
    import os
    import time

    import wandb

    run = wandb.init()
    loss = wandb.config.loss
    if loss < 1:  # a good run: a short curve, then it ends
        for step in range(3):
            wandb.log({"val_loss": loss / (step + 1)})
        run.finish()
    else:  # the victim: a worker, then a bad curve for 30 s, unless it is stopped
        child = os.fork()
        if child == 0:
            time.sleep(60)
            os._exit(0)
        with open("pids.json.tmp", "w") as handle:
            json.dump([os.getpid(), child], handle)
        os.rename("pids.json.tmp", "pids.json")
        for step in range(60):
            wandb.log({"val_loss": loss + step})
            time.sleep(0.5)
        run.finish()
"""


@pytest.mark.slow  # real runs of real programs
def test_early_termination_stops_the_run_and_ends_all_its_processes(work):
    program = write_code(work, "train.py", HYPERBAND)
    # With parallelism 2, run 3 is judged against runs 0 and 1 (settled when it was handed
    # out): at hyperband's first band (iteration 1) its 5.0 is above the median of 0.1, 0.2, 5.0
    # (with parallelism 1, run 2 would be judged against runs 0 and 1, and stopped too).
    config = {
        **grid(loss=[0.1, 0.2, 0.3, 5.0]),
        "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 2},
    }
    before = process.descendants()
    result, runs = run_sweep(program_sweep(program, config), 4, parallelism=2)

    *good, victim = sorted(runs.values(), key=lambda r: r.index)
    assert [run.state for run in good] == [FINISHED] * 3
    assert victim.config["loss"] == 5.0
    assert victim.state == STOPPED, victim.reason
    assert victim.stopped_at is not None
    assert victim.history[-1] == {"step": victim.stopped_at, "value": 5.0 + victim.stopped_at - 1}
    record = metrics_json(victim.run_id)
    assert record["state"] == STOPPED and record["iterations"] == victim.stopped_at
    assert record["history"][-1]["val_loss"] == victim.history[-1]["value"]
    assert record["timing"]["total_seconds"] < 10, record["timing"]  # it would have run 30 s
    pids = json.loads((run_dir(victim.run_id) / paths.RUN_FILES / "pids.json").read_text())
    assert_all_gone(pids)
    assert process.descendants() <= before


# 6. Parameter values that look like shell code reach the program as literal text.

ECHO = """\
    import argparse
    import json
    import sys

    import wandb

    parser = argparse.ArgumentParser()
    for name in ("semicolon", "dollar", "backticks", "quotes", "newline"):
        parser.add_argument("--" + name)
    args = parser.parse_args()
    run = wandb.init()
    with open("seen.json", "w") as handle:
        json.dump({"argv": sys.argv[1:], "args": vars(args), "config": dict(wandb.config)}, handle)
    wandb.log({"val_loss": 0.5})
    run.finish()
"""

SHELL_VALUES = {
    "semicolon": "; touch PWNED #",
    "dollar": "$(touch PWNED2)",
    "backticks": "`touch PWNED3`",
    "quotes": 'it\'s "quoted" \' "; touch PWNED4; echo "',
    "newline": "line one\ntouch PWNED5\n",
}


@pytest.mark.slow  # real runs of real programs
def test_parameter_values_with_shell_syntax_reach_the_program_literally(work):
    program = write_code(work, "train.py", ECHO)
    result, runs = run_sweep(
        program_sweep(program, grid(**{k: [v] for k, v in SHELL_VALUES.items()})), 1
    )

    run = only(runs)
    assert run.state == FINISHED, run.reason
    seen = json.loads((run_dir(run.run_id) / paths.RUN_FILES / "seen.json").read_text())
    assert sorted(seen["argv"]) == sorted(
        f"--{name}={value}" for name, value in SHELL_VALUES.items()
    )
    assert seen["args"] == SHELL_VALUES
    assert seen["config"] == SHELL_VALUES
    assert run.config == SHELL_VALUES
    # a shell would have run in the run's files/ folder, under tmp_path
    pwned = [
        *work.rglob("PWNED*"),
        *paths.PACKAGE.parents[1].glob("PWNED*"),
        *Path.home().glob("PWNED*"),
    ]
    assert not pwned, pwned


# 7. The W&B API key is in no argv, log or result file.

LEAKY = """\
    import os
    import sys

    import wandb

    run = wandb.init()
    with open("argv.txt", "w") as handle:
        handle.write("\\n".join(sys.argv))
    wandb.log({"val_loss": 0.5})
    print("Traceback (most recent call last): something went wrong", file=sys.stderr)
    if wandb.config.leak:
        print("the key is " + os.environ["WANDB_API_KEY"], file=sys.stderr)
    sys.exit(1)
"""


@pytest.mark.slow  # real runs of real programs
def test_the_api_key_is_in_no_argv_log_or_result_file(work, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    key = "fakekey" + uuid.uuid4().hex + "0a1b2c3d4e"  # 40 characters, like a real one
    monkeypatch.setenv("WANDB_API_KEY", key)
    program = write_code(work, "train.py", LEAKY)
    result, runs = run_sweep(program_sweep(program, grid(leak=[False, True])), 2)

    quiet, leaky = sorted(runs.values(), key=lambda r: r.index)
    assert (quiet.state, leaky.state) == (FAILED, FAILED)
    assert "something went wrong" in quiet.reason
    assert "the key is ***" in leaky.reason and key not in leaky.reason
    assert key not in caplog.text
    assert (
        key in (run_dir(leaky.run_id) / paths.STDERR_FILE).read_text()
    )  # what the program printed itself
    # Every file but the leaky run's own output (its stderr.log, and the console output its
    # wandb folder captured): the store, metrics.json, logs, both runs' wandb folders, argv.
    own_output = [
        work / run_dir(leaky.run_id) / paths.STDERR_FILE,
        work / run_dir(leaky.run_id) / "wandb",  # WANDB_DIR
    ]
    checked, holding = 0, []
    for path in work.rglob("*"):
        if not path.is_file() or any(path == out or out in path.parents for out in own_output):
            continue
        checked += 1
        if key.encode() in path.read_bytes():
            holding.append(str(path.relative_to(work)))
    assert not holding, f"the API key is in {holding}"
    assert checked > 10
    assert (run_dir(quiet.run_id) / paths.RUN_FILES / "argv.txt").exists()
    assert list((run_dir(quiet.run_id) / "wandb").rglob("*.wandb"))


# 8. Function mode: every run in a process of its own, from the same state.

TRAIN_FUNCTION = """\
    import os
    import random

    import wandb

    CALLS = 0


    def train():
        global CALLS
        CALLS += 1
        run = wandb.init()
        draw = random.random()
        wandb.log({"val_loss": wandb.config.x, "calls": CALLS, "draw": draw, "pid": os.getpid()})
        run.finish()
"""


@pytest.mark.slow  # real runs of real programs
def test_function_runs_each_start_from_the_same_state(work, monkeypatch):
    code = write_code(work, "code/train.py", TRAIN_FUNCTION)
    config = grid(x=[1, 2])
    chosen = Objective(FUNCTION, function=f"{code}:train", run_timeout=60)
    sweep = sweep_record(config, objective=chosen)
    draws = {}
    for agent in ("first", "second"):  # two agents, each with a store of its own
        folder = work / agent
        folder.mkdir()
        monkeypatch.chdir(folder)
        result, runs = run_sweep(sweep, 2, agent=agent)
        assert [run.state for run in runs.values()] == [FINISHED, FINISHED], [
            r.reason for r in runs.values()
        ]
        assert [run.summary["calls"] for run in runs.values()] == [1, 1]
        pids = {run.summary["pid"] for run in runs.values()}
        assert len(pids) == 2 and os.getpid() not in pids
        draws[agent] = {run.config["x"]: run.summary["draw"] for run in runs.values()}
    assert draws["first"] == draws["second"]
    assert draws["first"][1] != draws["first"][2]
