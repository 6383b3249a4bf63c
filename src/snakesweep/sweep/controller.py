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
import math
import time
from collections.abc import Callable
from pathlib import Path

from snakesweep.record import events
from snakesweep.record.state import DONE_STATES, Run, SweepState, runs_done_by
from snakesweep.record.store import EventLog, ReplacedLog
from snakesweep.sweep import decide, engine, optuna_engine
from snakesweep.sweep.custom import is_custom, load_scheduler
from snakesweep.sweep.decide import Exhausted, Limits, Requeue, Suggest, Wait
from snakesweep.sweep.metric import engine_metric
from snakesweep.sweep.spec import run_config, sweep_hash

LIVE_METRIC_SECONDS = (
    1.0  # an agent writes epoch metrics (for `snakesweep status`) at most this often
)
WAIT_POLL_SECONDS = 0.1  # how often an agent told to Wait looks at the log's size


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


class LocalController:
    def __init__(
        self,
        store_path: str | Path,
        sweep_config: dict,
        sweep_seed: int,
        limits: Limits,
        clock: Callable[[], float] = time.time,
    ):
        self.log = EventLog(store_path)
        self.sweep_config = sweep_config
        self.sweep_seed = sweep_seed
        self.heartbeat_timeout = limits.heartbeat_timeout
        self.policy = decide.policy_for(sweep_config, limits)
        self.clock = clock
        self.metric = engine_metric(sweep_config)
        self._engine_runs = engine.EngineRuns(self.metric)
        self._sample = (
            engine.RandomSampler(sweep_config) if sweep_config.get("method") == "random" else None
        )
        self._optuna = (
            optuna_engine.OptunaEngine(
                load_scheduler(sweep_config, "sweep.scheduler"), sweep_seed, limits.parallelism
            )
            if is_custom(sweep_config)
            else None
        )
        self._pending: list[dict] = []  # metrics `report` held back while the lock was busy
        self._metrics_written_at = float("-inf")
        self._reset()
        if self._optuna is None:
            engine.warm_up(sweep_config)

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

    def next(self, agent: str) -> Claim | Wait | Exhausted:
        """The next run for `agent`; or Wait (ask again later); or Exhausted (leave)."""
        self._sync()  # most of the news, read before taking the lock, so it is held briefly
        if isinstance(
            done := decide.next_action(self.state, self.policy, self._exhausted), Exhausted
        ):
            return (
                done  # final (see `decide.next_action`): no need to queue for the lock to learn it
            )
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
                suggestion = self._suggest(action.index)
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
        for had ended. This looks at the log's size every WAIT_POLL_SECONDS (no lock, no
        parsing) and, when it grew, reads the news and returns if the rule no longer says Wait;
        news that changes nothing (heartbeats, metrics) does not send it queueing for the lock.
        After `seconds` it returns regardless: a silent run is requeued once time has passed."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(WAIT_POLL_SECONDS, left))
            if self.log.size() != self._offset:
                self._sync()
                if not isinstance(
                    decide.next_action(self.state, self.policy, self._exhausted), Wait
                ):
                    return

    def _suggest(self, index: int) -> tuple[dict, dict] | None:
        """Suggestion `index` as (the objective's config, W&B's run-config form)."""
        if self._optuna is not None:
            return self._optuna.suggest(self.state.by_index, index)
        engine_config = engine.suggest(
            self.sweep_config, self._seen(index), self.sweep_seed, index, self._sample
        )
        if engine_config is None:
            return None
        return run_config(self.sweep_config["parameters"], engine_config), engine_config

    def _seen(self, index: int) -> list:
        view = decide.suggestion_view(
            self.state, index, self.policy.parallelism, self.sweep_config["method"]
        )
        return [self._engine_runs.view(run, as_ended) for run, as_ended in view]

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
                with self.log.locked(blocking=False) as got:
                    if got:
                        self._flush(durable=False)
                        self._metrics_written_at = metric["time"]
            return False
        self._sync()  # most of the news, read before taking the lock
        with self.log.locked(urgent=True):
            self._sync()
            self._append(metric)
            run = self.state.runs[run_id]
            if run.should_stop:
                return True
            if self._stops(run, step):
                self._append(events.stop(run_id, step))
                return True
            return False

    def _stops(self, run: Run, step: int) -> bool:
        """The early-termination (or the study's pruner's) decision for `run` after `step`."""
        peers = decide.stop_peers(self.state, run, self.policy.parallelism)
        if self._optuna is not None:
            return self._optuna.should_stop(run, step, peers)
        views = [self._engine_runs.view(r, True) for r in peers]
        return engine.should_stop(self.sweep_config, run, step, views)

    def should_stop(self, run_id: str) -> bool:
        return self.runs()[run_id].should_stop

    def finish(self, run_id: str, outcome: dict) -> None:
        """Record how the run ended: `outcome` is its `state` (finished, failed or stopped),
        `summary` and `reason`, and the digests of what it wrote (see `events.finish`)."""
        if outcome["state"] not in DONE_STATES:
            raise ValueError(f"a run finishes as one of {DONE_STATES}, not {outcome['state']!r}")
        self._pending.append(events.finish(run_id, outcome, self.clock()))
        with self.log.locked():
            self._flush(durable=True)

    def interrupt(self, run_id: str, reason: str) -> None:
        """Record that the run's agent was told to end and stopped it: handed out again at
        once, to resume (no heartbeat timeout to wait out)."""
        self._pending.append(events.interrupted(run_id, reason, self.clock()))
        with self.log.locked():
            self._flush(durable=True)

    def _flush(self, durable: bool) -> None:
        """Append the metrics `report` held back, and the event `finish` adds; under the lock."""
        if self._pending:
            self.log.append(*self._pending, durable=durable)
            self._pending = []

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
