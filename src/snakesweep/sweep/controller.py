"""The local controller: hands out configs, tracks heartbeats, requeues crashed runs, stops
runs early. Each method is one read-decide-append step under the store's lock, so any number
of agent processes can call it at once and each config is handed out exactly once.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable

from snakesweep.sweep import engine
from snakesweep.sweep.spec import sweep_hash
from snakesweep.sweep.state import (
    CRASHED,
    DONE_STATES,
    RUNNING,
    Run,
    fold,
    orphaned_runs,
    requeued,
    runs_done_by,
    stale_runs,
)
from snakesweep.sweep.store import EventLog, ReplacedLog


@dataclasses.dataclass(frozen=True)
class Claim:
    run_id: str
    index: int
    config: dict
    attempt: int


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
        heartbeat_timeout: float = 120.0,
        max_attempts: int = 3,
        clock: Callable[[], float] = time.time,
    ):
        self.log = EventLog(store_path)
        self.sweep_config = sweep_config
        self.sweep_seed = sweep_seed
        self.heartbeat_timeout = heartbeat_timeout
        self.max_attempts = max_attempts
        self.clock = clock
        self.metric = sweep_config.get("metric", {}).get("name")
        self._events: list[dict] = []  # every event read so far, and where the reading stopped
        self._offset = 0
        self._grid_done = False
        engine.warm_up(sweep_config)

    def runs(self) -> dict[str, Run]:
        """The sweep's runs as of now. Only the log's new lines are parsed: with many agents
        polling one store, re-reading it whole on every call made claims slow."""
        try:
            new, self._offset = self.log.read_from(self._offset)
        except ReplacedLog:
            self._events, self._grid_done = [], False
            new, self._offset = self.log.read_from(0)
        self._events.extend(new)
        return fold(self._events)

    def start_agent(self, agent: str) -> list[str]:
        """An agent that starts while still holding runs died with them (Snakemake's `retries:`
        restarted it, or the pipeline was killed): requeue them now rather than after the
        heartbeat timeout."""
        with self.log.locked():
            orphans = orphaned_runs(self.runs(), agent)
            self._append(*({"event": "crashed", "run": r.run_id, "reason": f"agent {agent} restarted"} for r in orphans))
        return [r.run_id for r in orphans]

    def in_flight(self) -> int:
        """Runs that may still need an agent: running elsewhere, or crashed with attempts left."""
        return sum(
            1
            for r in self.runs().values()
            if r.state == RUNNING or (r.state == CRASHED and r.attempt < self.max_attempts)
        )

    def done_by(self, agent: str) -> int:
        return runs_done_by(self.runs(), agent)

    def claim(self, agent: str) -> Claim | None:
        """The next config for `agent`, or None when the sweep has nothing left to hand out."""
        with self.log.locked():
            runs = self.runs()
            stale = stale_runs(runs, self.clock(), self.heartbeat_timeout)
            for run in stale:
                run.state = CRASHED
            self._append(
                *(
                    {"event": "crashed", "run": r.run_id, "reason": f"no heartbeat for {self.heartbeat_timeout:g} s"}
                    for r in stale
                )
            )
            retry = requeued(runs, self.max_attempts)
            if retry is not None:
                claim = Claim(retry.run_id, retry.index, retry.config, retry.attempt + 1)
                self._append(self._claim_event(claim, retry.engine_config, agent))
                return claim
            index = len(runs)
            run_cap = self.sweep_config.get("run_cap")
            if run_cap is not None and index >= run_cap:
                return None
            if self._grid_done:
                return None
            suggestion = engine.suggest(self.sweep_config, list(runs.values()), self.sweep_seed, index)
            if suggestion is None:
                # Only a grid runs out, and runs are never removed, so it stays exhausted.
                self._grid_done = True
                return None
            engine_config, config = suggestion
            claim = Claim(run_id_for(index, config), index, config, 1)
            self._append(self._claim_event(claim, engine_config, agent))
            return claim

    def record_claim(self, agent: str, config: dict, engine_config: dict) -> Claim:
        """Book a config that another controller (the W&B server) handed out, so the store
        holds every run of the sweep whichever controller decided."""
        with self.log.locked():
            index = len(self.runs())
            claim = Claim(run_id_for(index, config), index, config, 1)
            self._append(self._claim_event(claim, engine_config, agent))
            return claim

    def heartbeat(self, run_id: str) -> None:
        with self.log.locked():
            self._append({"event": "heartbeat", "run": run_id})

    def report(self, run_id: str, step: int, value: float) -> bool:
        """Record one epoch's metric; True if the run should stop (early termination)."""
        with self.log.locked():
            self._append({"event": "metric", "run": run_id, "step": step, "value": value})
            runs = self.runs()
            to_stop = [
                name for name in engine.runs_to_stop(self.sweep_config, list(runs.values())) if not runs[name].should_stop
            ]
            self._append(*({"event": "stop", "run": name} for name in to_stop))
            return run_id in to_stop or runs[run_id].should_stop

    def should_stop(self, run_id: str) -> bool:
        return self.runs()[run_id].should_stop

    def finish(self, run_id: str, state: str, summary: dict, reason: str | None = None) -> None:
        if state not in DONE_STATES:
            raise ValueError(f"a run finishes as one of {DONE_STATES}, not {state!r}")
        with self.log.locked():
            self._append({"event": "finish", "run": run_id, "state": state, "summary": summary, "reason": reason})

    def _claim_event(self, claim: Claim, engine_config: dict, agent: str) -> dict:
        return {
            "event": "claim",
            "run": claim.run_id,
            "index": claim.index,
            "config": claim.config,
            "engine_config": engine_config,
            "agent": agent,
            "attempt": claim.attempt,
        }

    def _append(self, *events: dict) -> None:
        if events:
            now = self.clock()
            self.log.append(*({**e, "time": now} for e in events))
