"""What the store's events mean: the runs of a sweep, folded from the event log.

Pure functions on plain data (no I/O), like the `sweeps` engine itself, so every rule of the
controller can be tested on a list of dicts.

Events (all carry `run`, the run id, and `time`, the writer's clock):
- `claim`     an agent took a config: `index`, `config` (trainer keys), `engine_config` (the
              engine's `{name: {"value": v}}` form), `agent`, `attempt`
- `heartbeat` the run's agent is alive
- `metric`    one epoch's value of the sweep metric: `step`, `value`
- `stop`      the early-termination rule decided that the run should stop
- `finish`    the run ended: `state` (finished, failed or stopped), `summary`, `reason`
- `crashed`   the run's agent stopped sending heartbeats, or restarted: `reason`
"""

from __future__ import annotations

import dataclasses
from typing import Iterable

RUNNING = "running"
CRASHED = "crashed"
FINISHED = "finished"
FAILED = "failed"
STOPPED = "stopped"
DONE_STATES = (FINISHED, FAILED, STOPPED)  # a run in one of these is never handed out again


@dataclasses.dataclass
class Run:
    run_id: str
    index: int
    config: dict
    engine_config: dict
    agent: str
    attempt: int = 1
    state: str = RUNNING
    heartbeat: float = 0.0
    history: list = dataclasses.field(default_factory=list)  # [{"step": e, "value": v}]
    summary: dict = dataclasses.field(default_factory=dict)
    should_stop: bool = False
    reason: str | None = None
    agents: list = dataclasses.field(default_factory=list)  # every agent that held it, in order


def fold(events: Iterable[dict]) -> dict[str, Run]:
    """The runs, by id, in order of first claim. Events about unknown runs are ignored."""
    runs: dict[str, Run] = {}
    for event in events:
        kind, run_id = event.get("event"), event.get("run")
        if kind == "claim":
            previous = runs.get(run_id)
            if previous is not None and previous.state in DONE_STATES:
                continue  # a finished run is never redone, whatever a late event says
            run = Run(
                run_id=run_id,
                index=event["index"],
                config=event["config"],
                engine_config=event["engine_config"],
                agent=event["agent"],
                attempt=event.get("attempt", 1),
                heartbeat=event["time"],
                agents=[*(previous.agents if previous else []), event["agent"]],
            )
            runs[run_id] = run
            continue
        run = runs.get(run_id)
        if run is None or run.state in DONE_STATES:
            continue
        if kind == "heartbeat" and run.state == RUNNING:
            run.heartbeat = max(run.heartbeat, event["time"])
        elif kind == "metric" and run.state == RUNNING:
            run.history.append({"step": event["step"], "value": event["value"]})
            run.heartbeat = max(run.heartbeat, event["time"])
        elif kind == "stop":
            run.should_stop = True
        elif kind == "crashed" and run.state == RUNNING:
            run.state, run.reason = CRASHED, event.get("reason")
        elif kind == "finish":
            run.state = event["state"]
            run.summary = event.get("summary") or {}
            run.reason = event.get("reason")
    return runs


def stale_runs(runs: dict[str, Run], now: float, timeout: float) -> list[Run]:
    """Running runs whose agent has been silent for longer than `timeout` seconds."""
    return [r for r in runs.values() if r.state == RUNNING and now - r.heartbeat > timeout]


def orphaned_runs(runs: dict[str, Run], agent: str) -> list[Run]:
    """Runs an agent still holds when it starts: it died with them (Snakemake retried it)."""
    return [r for r in runs.values() if r.state == RUNNING and r.agent == agent]


def requeued(runs: dict[str, Run], max_attempts: int) -> Run | None:
    """The crashed run to hand out again first (lowest index), if any has attempts left."""
    waiting = [r for r in runs.values() if r.state == CRASHED and r.attempt < max_attempts]
    return min(waiting, key=lambda r: r.index, default=None)


def runs_done_by(runs: dict[str, Run], agent: str) -> int:
    return sum(1 for r in runs.values() if r.state in DONE_STATES and r.agent == agent)
