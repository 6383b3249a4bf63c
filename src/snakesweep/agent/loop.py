"""The agent loop: claim a config, train it while sending heartbeats, report, repeat.

The loop knows nothing about training: it is given `train_one(claim, on_epoch)`, which returns
the run's outcome. The agent job wires in the real trainer; the stress tests wire in a fast fake,
so the controller and the loop are tested with real processes at full speed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import traceback
from collections.abc import Callable, Iterator

from snakesweep import stopping
from snakesweep.errors import UserError, is_storage_error
from snakesweep.record.state import FAILED, INTERRUPTED
from snakesweep.sweep.controller import Claim, LocalController
from snakesweep.sweep.decide import Exhausted, Wait

log = logging.getLogger(__name__)

# train_one(claim, on_epoch) -> {"state": ..., "summary": {...}, "reason": ...}
# on_epoch(epoch, metrics) -> True to stop the run early
TrainOne = Callable[[Claim, Callable[[int, dict], bool]], dict]


def heartbeat_interval(heartbeat_timeout: float) -> float:
    """How often an agent says its run is alive: six beats per timeout, so a few lost or late
    ones never make a live run look crashed; at most once a second."""
    return max(heartbeat_timeout / 6, 1.0)


class Heartbeat:
    """Tells the controller, every `interval` seconds, that the agent's current run is alive:
    epochs can be long, and a silent run would be taken for crashed and handed to another agent.
    One thread for the agent's whole life: starting and joining a thread per run cost more than
    a short run's claim."""

    def __init__(self, controller: LocalController, interval: float):
        self.controller, self.interval = controller, interval
        self.run_id: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @contextlib.contextmanager
    def run(self, run_id: str) -> Iterator[None]:
        """Beat for `run_id` while the block runs."""
        self.run_id = run_id
        try:
            yield
        finally:
            self.run_id = None

    def _beat(self):
        while not self._stop.wait(self.interval):
            run_id = self.run_id  # read once: the run may end meanwhile (a late beat is ignored)
            if run_id is None:
                continue
            try:
                self.controller.heartbeat(run_id)
            except Exception:  # a missed beat is not fatal; the next one may get through
                log.exception("heartbeat for %s failed", run_id)


def run_agent(
    controller: LocalController,
    agent: str,
    max_runs: int,
    train_one: TrainOne,
    heartbeat_interval: float,
    wait_seconds: float | None = None,
) -> dict:
    """Run up to `max_runs` runs (counting those this agent finished before a restart).

    When nothing is left to hand out but other agents' runs are still in flight, the agent waits
    instead of leaving: if one of those agents has died, its run is requeued once its heartbeat
    times out, and a live agent must be there to take it, or the run would be lost. It also
    waits when the next suggestion must see results that are not in yet (declared parallelism,
    see `snakesweep.sweep.decide`). A wait ends as soon as the store's news may change the answer,
    and after `wait_seconds` (default: `heartbeat_interval`) at most.
    """
    requeued = controller.start_agent(agent)
    if requeued:
        log.warning(
            "agent %s restarted: its unfinished runs %s go back to the queue", agent, requeued
        )
    done_before = controller.done_by(agent)
    runs, waiting_for = [], None
    with Heartbeat(controller, heartbeat_interval) as heartbeat:
        while done_before + len(runs) < max_runs:
            _leave_if_told(controller)
            action = controller.next(agent)
            if isinstance(action, Wait):
                if action.reason != waiting_for:  # say it once, not every few seconds
                    log.info("waiting: %s", action.reason)
                    waiting_for = action.reason
                controller.wait_for_news(
                    wait_seconds if wait_seconds is not None else heartbeat_interval
                )
                continue
            if isinstance(action, Exhausted):
                log.info("the sweep has no more configs to hand out (%s)", action.reason)
                break
            with heartbeat.run(action.run_id):
                runs.append(run_one(controller, action, train_one))
            _leave_if_told(controller)
    controller.log.sync()  # the last finished run on disk before the agent says it is done
    return {"agent": agent, "runs": runs, "runs_before_restart": done_before}


def _leave_if_told(controller: LocalController) -> None:
    """Raise `stopping.Interrupted` when the agent was told to end: no new claim, and no summary
    (the job did not finish: Snakemake runs it again, and it resumes what it left)."""
    if (signum := stopping.requested()) is not None:
        controller.log.sync()
        raise stopping.Interrupted(signum)


def run_one(controller: LocalController, claim: Claim, train_one: TrainOne) -> dict:
    """Train one claimed run and record how it ended."""
    log.info("run %s (attempt %d): %s", claim.run_id, claim.attempt, claim.config)
    outcome = train_safely(controller, claim, train_one)
    record_outcome(controller, claim, outcome)
    return {"run_id": claim.run_id, "state": outcome["state"], "attempt": claim.attempt}


def record_outcome(controller: LocalController, claim: Claim, outcome: dict) -> None:
    """Record how the run ended (`train_one`'s outcome) in the store, and say it in the log. An
    interrupted run is handed out again at once, to resume."""
    if outcome["state"] == INTERRUPTED:
        controller.interrupt(claim.run_id, outcome.get("reason") or "interrupted")
    else:
        controller.finish(claim.run_id, outcome)
    log.info(
        "run %s %s%s",
        claim.run_id,
        outcome["state"],
        f": {outcome['reason']}" if outcome.get("reason") else "",
    )


def train_safely(controller: LocalController, claim: Claim, train_one: TrainOne) -> dict:
    """A run that raises is a failed run, not a dead agent: the agent goes on to the next. A run
    in this process (the ConvNet) learns at its next epoch that the agent was told to end:
    `on_epoch` raises `stopping.Interrupted`, after the epoch's checkpoint is saved."""
    metric = controller.metric

    def on_epoch(epoch: int, metrics: dict) -> bool:
        if metric in metrics:
            stop = controller.report(claim.run_id, epoch, metrics[metric])
        else:
            controller.heartbeat(claim.run_id)
            stop = controller.should_stop(claim.run_id)
        if not stop and (signum := stopping.requested()) is not None:
            raise stopping.Interrupted(signum)
        return stop

    try:
        return train_one(claim, on_epoch)
    except stopping.Interrupted as err:
        return {"state": INTERRUPTED, "reason": str(err)}
    except UserError as err:
        return {"state": FAILED, "reason": str(err)}
    except Exception as err:
        if is_storage_error(err):
            # A full or read-only disk is not this run's fault: stop the agent. The run stays
            # "running" in the store and is handed out again once there is room.
            raise
        log.error("run %s raised:\n%s", claim.run_id, traceback.format_exc())
        return {"state": FAILED, "reason": f"{type(err).__name__}: {err}"}
