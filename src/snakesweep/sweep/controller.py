"""The local controller: hands out configs, tracks heartbeats, requeues crashed runs, stops
runs early. Every decision (`start_agent`, `next`, `record_claim`, and `report` when the sweep
stops runs early) is one read-decide-append step under the store's lock, so any number of agent
processes can call it at once and each config is handed out exactly once. Records that need no
decision (heartbeats, a run's finish, live metrics of a sweep without early termination) are
appended under the lock without reading the log first.

The rules themselves are pure functions in `snakesweep.sweep.decide`; this class only keeps
the folded state up to date (applying each new line of the log once), calls one rule, and
appends the events it returns.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

from snakesweep.record import events
from snakesweep.record.journal import StoreLost
from snakesweep.record.state import DONE_STATES, Run, SweepState, runs_done_by
from snakesweep.record.store import ReplacedLog
from snakesweep.record.stores import open_store
from snakesweep.sweep import decide
from snakesweep.sweep.decide import Exhausted, Limits, Requeue, Suggest, Wait
from snakesweep.sweep.metric import engine_metric
from snakesweep.sweep.search import Search
from snakesweep.sweep.spec import sweep_hash

log = logging.getLogger(__name__)

# an agent writes epoch metrics (for `snakesweep status`) at most this often
LIVE_METRIC_SECONDS = 1.0


@dataclasses.dataclass(frozen=True)
class Claim:
    run_id: str
    index: int
    config: dict  # the objective's flat keys (nested groups flattened)
    attempt: int
    engine_config: dict  # the same values in W&B's run-config form, `{name: {"value": v}}`
    resume: bool = False  # the attempt before was interrupted: resume it (see decide.resumes)


def run_id_for(index: int, config: dict) -> str:
    """Ids are built from digits and hex only: they are safe as path components whatever the
    config's values are, and the same suggestion always gets the same id."""
    return f"{index:04d}-{sweep_hash(config)[:8]}"


def _anew(step):
    """Take a step again from a fresh read of the store if the store lost it mid-way
    (`StoreLost`: a database server restarted): nothing of it was kept, and the folded state
    may hold what was not."""

    @functools.wraps(step)
    def taken(self, *args, **kwargs):
        while True:
            try:
                return step(self, *args, **kwargs)
            except StoreLost as lost:
                log.warning(
                    "%s: the store lost the step (%s); taking it again", step.__name__, lost
                )
                self._reset()

    return taken


class LocalController:
    def __init__(
        self,
        store_path: str | Path,
        sweep_config: dict,
        sweep_seed: int,
        limits: Limits,
        clock: Callable[[], float] = time.time,
    ):
        self.log = open_store(store_path)
        self.sweep_config = sweep_config
        self.sweep_seed = sweep_seed
        self.heartbeat_timeout = limits.heartbeat_timeout
        self.policy = decide.policy_for(sweep_config, limits)
        self.clock = clock
        self.metric = engine_metric(sweep_config)
        self.search = Search(sweep_config, sweep_seed, limits.parallelism)
        self._pending: list[dict] = []  # metrics `report` held back while the lock was busy
        self._metrics_written_at = float("-inf")
        self._reset()

    def _reset(self) -> None:
        self.state = SweepState(self.policy.max_attempts)
        self._offset = 0
        self._exhausted = False

    def _sync(self) -> None:
        """Apply the log's new lines (only those) to the folded state."""
        try:
            new, self._offset = self.log.read_from(self._offset)
        except ReplacedLog:
            self._reset()
            new, self._offset = self.log.read_from(0)
        self.state.apply_all(new)

    def runs(self) -> dict[str, Run]:
        """The sweep's runs as of now, by id (live objects: read them, do not change them)."""
        self._sync()
        return self.state.runs

    @_anew
    def start_agent(self, agent: str) -> list[str]:
        """An agent that starts while still holding runs died with them (Snakemake's `retries:`
        restarted it, or the pipeline was killed): requeue them now rather than after the
        heartbeat timeout."""
        with self.log.locked(urgent=True):
            self._sync()
            orphans = decide.orphaned_runs(self.state, agent)
            self._append(*(decide.crashed_event(r, f"agent {agent} restarted") for r in orphans))
        return [r.run_id for r in orphans]

    def done_by(self, agent: str) -> int:
        return runs_done_by(self.runs(), agent)

    @_anew
    def next(self, agent: str) -> Claim | Wait | Exhausted:
        """The next run for `agent`; or Wait (ask again later); or Exhausted (leave)."""
        self._sync()  # most of the news, read before taking the lock, so it is held briefly
        if isinstance(
            done := decide.next_action(self.state, self.policy, self._exhausted), Exhausted
        ):
            return done  # final (see `decide.next_action`): no need to queue for the lock
        with self.log.locked(urgent=True):
            self._sync()
            reason = f"no heartbeat for {self.heartbeat_timeout:g} s"
            stale = decide.stale_runs(self.state, self.clock(), self.heartbeat_timeout)
            self._append(*(decide.crashed_event(r, reason) for r in stale))
            action = decide.next_action(self.state, self.policy, self._exhausted)
            if isinstance(action, Requeue):
                run = action.run
                claim = Claim(
                    run.run_id,
                    run.index,
                    run.config,
                    run.attempt + 1,
                    run.engine_config,
                    decide.resumes(run),
                )
                return self._hand_out(claim, agent)
            if isinstance(action, Suggest):
                suggestion = self.search.suggest(self.state, action.index)
                if suggestion is None:  # a spent grid (or a study's terminator): final
                    self._exhausted = True
                    return decide.next_action(self.state, self.policy, exhausted=True)
                config, engine_config = suggestion
                claim = Claim(
                    run_id_for(action.index, config), action.index, config, 1, engine_config
                )
                return self._hand_out(claim, agent)
            return action

    def wait_for_news(self, seconds: float) -> None:
        """Sleep after a Wait until the log says the answer may have changed, or `seconds` pass.

        A fixed sleep left the last agents idle for up to that long after the run they waited
        for had ended. The store says when it has news (`Store.wait`: the file's size, or the
        server's notification); this then reads it and returns if the rule no longer says Wait;
        news that changes nothing (heartbeats, metrics) does not send it queueing for the lock.
        After `seconds` it returns regardless: a silent run is requeued once time has passed."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.log.wait(self._offset, left):
                self._sync()
                if not isinstance(
                    decide.next_action(self.state, self.policy, self._exhausted), Wait
                ):
                    return

    @_anew
    def record_claim(self, agent: str, config: dict, engine_config: dict) -> Claim:
        """Book a config that another controller (the W&B server) handed out, so the store
        holds every run of the sweep whichever controller decided."""
        with self.log.locked(urgent=True):
            self._sync()
            index = len(self.state.by_index)
            return self._hand_out(
                Claim(run_id_for(index, config), index, config, 1, engine_config), agent
            )

    def heartbeat(self, run_id: str) -> None:
        """Called from the run's heartbeat thread: no fsync (a lost heartbeat is harmless), and
        the folded state is left to the agent's own thread."""
        self._write(events.heartbeat(run_id), durable=False)

    def report(self, run_id: str, step: int, value: float) -> bool:
        """Record one epoch's metric; True if the run should stop (early termination). A NaN or
        infinite value is recorded as the string "nan", "inf" or "-inf" (JSON has no such
        numbers), which the engine reads back as the float and which is never ranked."""
        value = value if math.isfinite(value) else str(float(value))
        metric = events.metric(run_id, step, value, self.clock())
        if not self.policy.stops_early:
            # Nothing to decide: held back, and written (with any held before it) by the first
            # later `report` of this agent that comes LIVE_METRIC_SECONDS after its last write and
            # finds the lock free with no claim waiting, or else by the run's `finish`. So epochs
            # never queue for the lock, and agents with very short epochs do not keep grabbing
            # it between other agents' turns.
            self._pending.append(metric)
            if metric["time"] - self._metrics_written_at >= LIVE_METRIC_SECONDS:
                try:
                    with self.log.locked(blocking=False) as got:
                        if got:
                            self._flush(durable=False)
                except StoreLost:  # kept in `_pending`, for a later write
                    got = False
                if got:
                    self._pending, self._metrics_written_at = [], metric["time"]
            return False
        return self._decide_stop(metric)

    @_anew
    def _decide_stop(self, metric: dict) -> bool:
        """Record an epoch's metric and decide whether its run stops, in one step."""
        run_id, step = metric["run"], metric["step"]
        self._sync()  # most of the news, read before taking the lock
        with self.log.locked(urgent=True):
            self._sync()
            self._append(metric)
            run = self.state.runs[run_id]
            if run.should_stop:
                return True
            if self.search.stops(self.state, run, step):
                self._append(events.stop(run_id, step))
                return True
            return False

    def should_stop(self, run_id: str) -> bool:
        return self.runs()[run_id].should_stop

    def finish(self, run_id: str, outcome: dict) -> None:
        """Record how the run ended: `outcome` is its `state` (finished, failed or stopped),
        `summary` and `reason`, and the digests of what it wrote (see `events.finish`)."""
        if outcome["state"] not in DONE_STATES:
            raise ValueError(f"a run finishes as one of {DONE_STATES}, not {outcome['state']!r}")
        self._pending.append(events.finish(run_id, outcome, self.clock()))
        self._deliver()

    @_anew
    def _deliver(self) -> None:
        with self.log.locked():
            self._flush(durable=True)
        self._pending = []  # once the store has them (a database's commit is at the block's end)

    def interrupt(self, run_id: str, reason: str) -> None:
        """Record that the run's agent was told to end and stopped it: handed out again at
        once, to resume (no heartbeat timeout to wait out)."""
        self._pending.append(events.interrupted(run_id, reason, self.clock()))
        self._deliver()

    def _flush(self, durable: bool) -> None:
        """Append the metrics `report` held back, and the event `finish` adds; under the lock.
        The caller empties `_pending` once the lock is let go, so a step lost mid-way keeps them."""
        if self._pending:
            self.log.append(*self._pending, durable=durable)

    def _hand_out(self, claim: Claim, agent: str) -> Claim:
        self._append(
            events.claim(
                claim.run_id, claim.index, claim.config, claim.engine_config, agent, claim.attempt
            )
        )
        return claim

    def _write(self, *events: dict, durable: bool = True) -> None:
        """Append `events` that need no decision; the state learns of them at the next sync."""
        with self.log.locked():
            self.log.append(*({**e, "time": self.clock()} for e in events), durable=durable)

    def _append(self, *events: dict) -> None:
        """Append and apply `events`; only under the lock, right after `_sync`, so that the
        log's end is exactly our offset plus what we wrote.

        Not fsynced: a claim, stop or crash lost in a power cut (the agents on that machine die
        with it) is decided again, the same way, when the sweep restarts; and the run's finish,
        which is fsynced, also puts every earlier line of the log on disk."""
        if events:
            now = self.clock()
            stamped = [{**e, "time": now} for e in events]
            self._offset = self.log.append(*stamped, durable=False)
            self.state.apply_all(stamped)
