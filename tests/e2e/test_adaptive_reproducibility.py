"""Adaptive sweeps (bayes + hyperband) and random search are bit-reproducible with any number of
agents and after a killed agent, because the sweep declares its parallelism: the real
`snakemake` runs the sweep with 1, 2 and 3 agents and with a SIGKILLed agent, and every
leaderboard and best model is the same, byte for byte. `snakesweep verify` then replays the
store."""

import csv
import json
import subprocess
import sys

import pytest
import yaml
from test_faults import _agent_processes, _events, _kill_an_agent_when
from workflow_helpers import REPO, copy_workflow, run_pipeline, tiny_config

from snakesweep.record.events import Kind, kind_of
from snakesweep.record.state import fold

pytestmark = pytest.mark.slow

OUTPUTS = ("results/leaderboard.csv", "results/best/model.onnx")


def adaptive_sweep() -> str:
    """The repository's bayes + hyperband example, cut to 6 runs so the test stays fast, with
    eta 3 (stop what is not in the top third) so that hyperband has something to stop among so
    few runs."""
    example = yaml.safe_load((REPO / "configs/sweeps/bayes-hyperband.yaml").read_text())
    return yaml.safe_dump(
        {**example, "run_cap": 6, "early_terminate": {**example["early_terminate"], "eta": 3}}
    )


def _config(work, agents, sweep_text, epochs, parallelism=2):
    path = tiny_config(work, agents=agents, sweep=sweep_text, train={"epochs": epochs})
    config = yaml.safe_load(path.read_text())
    config["sweep"]["parallelism"] = parallelism  # below the agent count, so that agents must wait
    path.write_text(yaml.safe_dump(config))
    return path


def _outputs(work):
    return {name: (work / name).read_bytes() for name in OUTPUTS}


def _verify(work, *args):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "snakesweep.cli",
            "verify",
            "--results",
            str(work / "results"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def adaptive_runs(tmp_path_factory, adaptive_one_agent):
    """The adaptive sweep run uninterrupted with 1, 2 and 3 agents: {agents: workdir}."""
    runs = {1: adaptive_one_agent}
    for agents in (2, 3):
        work = copy_workflow(tmp_path_factory.mktemp(f"adaptive{agents}") / "w")
        # as many cores as agents, so that all of them really run at once
        run_pipeline(
            work, _config(work, agents, adaptive_sweep(), epochs=3), "--cores", str(max(2, agents))
        )
        runs[agents] = work
    return runs


def test_bayes_hyperband_is_byte_identical_with_1_2_and_3_agents(adaptive_runs):
    reference = _outputs(adaptive_runs[1])
    for agents in (2, 3):
        assert _outputs(adaptive_runs[agents]) == reference, f"{agents} agents differ from 1"
    rows = list(csv.DictReader((adaptive_runs[1] / "results/leaderboard.csv").open()))
    assert len(rows) == 6
    stopped = [r for r in rows if r["state"] == "stopped"]
    assert stopped and all(int(r["epochs_completed"]) < 3 for r in stopped), [
        r["state"] for r in rows
    ]


def test_three_agents_really_ran_in_parallel_and_waited_for_results(adaptive_runs):
    """With parallelism 2, agents must have waited: suggestion k needs the results of runs
    0..k-2. The agents' logs say so, and every run was claimed exactly once."""
    work = adaptive_runs[3]
    summaries = [json.loads(p.read_text()) for p in (work / "results/sweep/agents").glob("*.json")]
    assert sum(1 for s in summaries if s["runs"]) >= 2  # the work was shared
    logs = "".join(p.read_text() for p in (work / "results/logs").glob("agent-*.log"))
    assert "waiting: suggestion" in logs
    events = _events(work)
    assert sorted(e["index"] for e in events if kind_of(e) == Kind.CLAIM) == list(range(6))


def test_a_sigkilled_agent_mid_sweep_changes_nothing(tmp_path, adaptive_runs):
    work = copy_workflow(tmp_path / "w")
    config = _config(work, 2, adaptive_sweep(), epochs=3)
    _kill_an_agent_when(
        work,
        config,
        lambda: (
            any(kind_of(e) == Kind.FINISH for e in _events(work))
            and sum(r.state == "running" for r in fold(_events(work)).values()) == 2
            and len(_agent_processes(work)) == 2
        ),
        "a finished run and both agents training",
    )
    assert any(kind_of(e) == Kind.CRASHED for e in _events(work)), "the kill hit no run"
    assert _outputs(work) == _outputs(adaptive_runs[1])


def test_verify_replays_an_adaptive_sweep(adaptive_runs):
    result = _verify(adaptive_runs[2])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "suggestions replayed: 6" in result.stdout
    assert "early-termination decisions replayed: 0" not in result.stdout


RANDOM = """
method: random
metric: {name: val_accuracy, goal: maximize}
run_cap: 4
parameters:
  learning_rate: {distribution: log_uniform_values, min: 0.0005, max: 0.005}
  batch_size: {values: [64, 128]}
"""


def test_random_search_with_1_and_4_agents_is_the_same_run_by_run_and_byte_for_byte(tmp_path):
    works = {}
    for agents in (1, 4):
        work = works[agents] = copy_workflow(tmp_path / f"random{agents}")
        run_pipeline(work, _config(work, agents, RANDOM, epochs=1))
    by_index = {}
    for agents, work in works.items():
        runs = fold(_events(work))
        seeds = {}
        for run in runs.values():
            seeds[run.index] = json.loads(
                (work / "results/runs" / run.run_id / "metrics.json").read_text()
            )["seed"]
        by_index[agents] = {r.index: (r.run_id, r.config, seeds[r.index]) for r in runs.values()}
    assert sorted(by_index[1]) == [0, 1, 2, 3]
    assert by_index[4] == by_index[1]
    agents_used = [
        json.loads(p.read_text()) for p in (works[4] / "results/sweep/agents").glob("*.json")
    ]
    assert sum(1 for s in agents_used if s["runs"]) >= 2
    assert _outputs(works[4]) == _outputs(works[1])
