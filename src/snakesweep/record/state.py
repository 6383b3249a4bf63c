"""What the store's events mean: the runs of a sweep, folded from the event log.

Pure functions on plain data (no I/O), like the `sweeps` engine itself, so every rule of the
controller can be tested on a list of dicts.

The events and their fields are `snakesweep.record.events`.

`SweepState` applies events one at a time and keeps the indexes the controller's decisions
need (runs by index, running and requeueable runs, how many leading runs are settled), so an
agent that has read the log once only ever applies the new lines: no decision costs time in
proportion to the whole log.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from snakesweep.record import events
from snakesweep.record.events import Kind

RUNNING = "running"
CRASHED = "crashed"
FINISHED = "finished"
FAILED = "failed"
STOPPED = "stopped"
INTERRUPTED = "interrupted"  # its agent was told to end; handed out again at once, to resume
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
    stopped_at: int | None = None  # the epoch at which early termination said stop
    reason: str | None = None
    onnx_sha256: str | None = None
    artifacts: dict | None = None  # user code: sha256 of every file the run wrote, by path
    agents: list = dataclasses.field(default_factory=list)  # every agent that held it, in order


def retryable(run: Run) -> bool:
    """A run `snakesweep retry` may hand out again: failed, or crashed (its attempts are then
    counted afresh)."""
    return run.state in (FAILED, CRASHED)


def settled(run: Run, max_attempts: int) -> bool:
    """A run whose result is final: done, or crashed with no attempt left (an interrupted run
    never is: an interruption is not the run's fault)."""
    return run.state in DONE_STATES or (run.state == CRASHED and run.attempt >= max_attempts)


def has_attempt_left(run: Run, max_attempts: int) -> bool:
    """A run waiting to be handed out again may be: interrupted, or crashed with attempts left."""
    return run.state == INTERRUPTED or run.attempt < max_attempts


class SweepState:
    """The folded runs, updated one event at a time.

    `max_attempts` is needed to know when a crashed run is settled (given up) rather than
    waiting to be handed out again.
    """

    def __init__(self, max_attempts: int = 3):
        self.max_attempts = max_attempts
        self.runs: dict[str, Run] = {}  # by id, in order of first claim
        self.by_index: list[Run | None] = []
        self.running: set[str] = set()
        self.crashed: set[str] = set()  # crashed (attempts left or not) or interrupted
        self.settled_prefix = 0  # runs 0 .. settled_prefix-1 are all settled

    def apply_all(self, events: Iterable[dict]) -> SweepState:
        for event in events:
            self.apply(event)
        return self

    def apply(self, event: dict) -> None:
        kind, run_id = events.kind_of(event), event.get("run")
        if kind == Kind.CLAIM:
            self._claim(event)
            return
        run = self.runs.get(run_id)
        if kind == Kind.RETRY and run is not None:
            self._retry(run)
            return
        if run is None or run.state in DONE_STATES:
            return  # events about unknown runs, or late ones about finished runs
        if kind == Kind.HEARTBEAT or kind == Kind.METRIC:  # most of the log; neither settles a run
            if run.state == RUNNING:
                if kind == Kind.METRIC:
                    run.history.append({"step": event["step"], "value": event["value"]})
                run.heartbeat = max(run.heartbeat, event["time"])
            return
        if kind == Kind.STOP:
            run.should_stop = True
            run.stopped_at = event.get("step")
        elif kind in (Kind.CRASHED, Kind.INTERRUPTED) and run.state == RUNNING:
            run.state = CRASHED if kind == Kind.CRASHED else INTERRUPTED
            run.reason = event.get("reason")
            self.running.discard(run_id)
            self.crashed.add(run_id)
        elif kind == Kind.FINISH:
            run.state = event["state"]
            run.summary = event.get("summary") or {}
            run.reason = event.get("reason")
            run.onnx_sha256 = event.get("onnx_sha256")
            run.artifacts = event.get("artifacts")
            self.running.discard(run_id)
            self.crashed.discard(run_id)
        self._advance()

    def _retry(self, run: Run) -> None:
        if not retryable(run):
            return  # only a failed or given-up run is run again; never a finished one
        run.state, run.attempt, run.reason = CRASHED, 0, "to be run again (snakesweep retry)"
        run.should_stop, run.stopped_at = False, None
        self.crashed.add(run.run_id)
        self.settled_prefix = min(self.settled_prefix, run.index)  # it is unsettled again
        self._advance()

    def _claim(self, event: dict) -> None:
        run_id = event["run"]
        previous = self.runs.get(run_id)
        if previous is not None and previous.state in DONE_STATES:
            return  # a finished run is never redone, whatever a late event says
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
        self.runs[run_id] = run
        while len(self.by_index) <= run.index:
            self.by_index.append(None)
        self.by_index[run.index] = run
        self.running.add(run_id)
        self.crashed.discard(run_id)

    def _advance(self) -> None:
        while self.settled_prefix < len(self.by_index):
            run = self.by_index[self.settled_prefix]
            if run is None or not settled(run, self.max_attempts):
                break
            self.settled_prefix += 1


def fold(events: Iterable[dict]) -> dict[str, Run]:
    """The runs, by id, in order of first claim. Events about unknown runs are ignored."""
    return SweepState().apply_all(events).runs


def runs_done_by(runs: dict[str, Run], agent: str) -> int:
    return sum(1 for r in runs.values() if r.state in DONE_STATES and r.agent == agent)
