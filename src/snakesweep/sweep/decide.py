"""The local controller's rules, as pure functions of the folded state and plain values.

Like `sweeps` (`next_run`, `stop_runs`), nothing here reads a file, takes a lock or looks at a
clock: the controller reads the log, calls one of these, and appends what it returns. So each
rule is tested on a list of events, and `snakesweep verify` replays the very same rules.

**Declared parallelism.** A sweep declares `parallelism` W (a setting of the sweep, never the
number of agents). Suggestion k is made from the sweep seed, k, the configs of runs 0..k-1 and
the final results of runs 0..k-W only; runs k-W+1..k-1 are shown to the engine as in flight,
whatever their real state. An early-termination decision for run k uses run k's own history and
the final histories of runs 0..k-W. Where results matter (bayes, or any early termination),
suggestion k is handed out only once runs 0..k-W are settled, so neither a suggestion nor a
stop decision can depend on which agent was faster: the sweep is the same with 1 agent or 64.
"""

from __future__ import annotations

import dataclasses

from snakesweep.record import events
from snakesweep.record.state import INTERRUPTED, Run, SweepState, has_attempt_left


@dataclasses.dataclass(frozen=True)
class Limits:
    """The settings the rules take from the config: the sweep's declared parallelism, how long
    a silent run may go before it counts as crashed, and how often one config may crash."""

    parallelism: int
    heartbeat_timeout: float
    max_attempts: int


@dataclasses.dataclass(frozen=True)
class Policy:
    heartbeat_timeout: float
    max_attempts: int
    parallelism: int
    run_cap: int | None
    stops_early: bool  # the sweep has early termination (hyperband)
    waits_for_results: bool  # suggestions or stop decisions depend on other runs' results


def policy_for(sweep_config: dict, limits: Limits) -> Policy:
    return Policy(
        heartbeat_timeout=limits.heartbeat_timeout,
        max_attempts=limits.max_attempts,
        parallelism=limits.parallelism,
        run_cap=sweep_config.get("run_cap"),
        stops_early="early_terminate" in sweep_config or _prunes(sweep_config),
        waits_for_results=sweep_config.get("method") in ("bayes", "custom")
        or "early_terminate" in sweep_config,
    )


def _prunes(sweep_config: dict) -> bool:
    """A custom (Optuna) sweep with one objective: its study's pruner may stop runs."""
    return sweep_config.get("method") == "custom" and not sweep_config.get("metrics")


@dataclasses.dataclass(frozen=True)
class Requeue:
    """Hand out a crashed or interrupted run again: same index, config and seed, next attempt
    (an interrupted one resumes: `resumes`)."""

    run: Run


@dataclasses.dataclass(frozen=True)
class Suggest:
    """Ask the engine for suggestion `index` and hand it out."""

    index: int


@dataclasses.dataclass(frozen=True)
class _Answer:
    reason: str  # for the agent's log


class Wait(_Answer):
    """Nothing to hand out now, but there may be soon: ask again later."""


class Exhausted(_Answer):
    """Nothing left to hand out and nothing in flight: the agent can leave."""


Action = Requeue | Suggest | Wait | Exhausted


def stale_runs(state: SweepState, now: float, timeout: float) -> list[Run]:
    """Running runs whose agent has been silent for longer than `timeout` seconds."""
    return sorted(
        (state.runs[r] for r in state.running if now - state.runs[r].heartbeat > timeout),
        key=lambda r: r.index,
    )


def orphaned_runs(state: SweepState, agent: str) -> list[Run]:
    """Runs an agent still holds when it starts: it died with them (Snakemake retried it)."""
    return sorted(
        (state.runs[r] for r in state.running if state.runs[r].agent == agent),
        key=lambda r: r.index,
    )


def requeueable(state: SweepState, max_attempts: int) -> Run | None:
    """The run to hand out again first (lowest index): interrupted, or crashed with attempts
    left."""
    waiting = (state.runs[r] for r in state.crashed)
    return min(
        (r for r in waiting if has_attempt_left(r, max_attempts)),
        key=lambda r: r.index,
        default=None,
    )


def in_flight(state: SweepState, max_attempts: int) -> int:
    """Runs that may still need an agent: running, interrupted, or crashed with attempts left."""
    return len(state.running) + sum(
        1 for r in state.crashed if has_attempt_left(state.runs[r], max_attempts)
    )


def next_action(state: SweepState, policy: Policy, exhausted: bool = False) -> Action:
    """What an agent asking for work gets. `exhausted` says the engine has run out (a grid whose
    every point was handed out): runs are never removed, so that stays true.

    Exhausted is final: it needs every run settled, a settled run never becomes unsettled, and
    no run is added after it (each claim is decided under the lock on the whole log, which then
    says Exhausted too). So Exhausted of any prefix of the log holds for the whole log, and the
    controller gives it without queueing for the lock."""
    retry = requeueable(state, policy.max_attempts)
    if retry is not None:
        return Requeue(retry)
    index = len(state.by_index)
    if exhausted or (policy.run_cap is not None and index >= policy.run_cap):
        why = (
            "every grid point was handed out" if exhausted else f"run_cap {policy.run_cap} reached"
        )
        if in_flight(state, policy.max_attempts):
            return Wait(f"{why}; other runs are in flight and may be handed out again")
        return Exhausted(why)
    needed = results_seen(index, policy.parallelism)  # runs 0..needed-1 settled first
    if policy.waits_for_results and state.settled_prefix < needed:
        return Wait(
            f"suggestion {index} waits for run {state.settled_prefix} to end "
            f"(parallelism {policy.parallelism}: it sees the results of runs 0..{needed - 1})"
        )
    return Suggest(index)


def results_seen(index: int, parallelism: int) -> int:
    """How many leading runs' final results suggestion (or stop decision) `index` sees: runs
    0..index-W, so that runs index-W+1..index, W of them, may train at once (W=1: every earlier
    result, one run at a time)."""
    return max(0, index - parallelism + 1)


def suggestion_view(
    state: SweepState, index: int, parallelism: int, method: str
) -> list[tuple[Run, bool]]:
    """The runs the engine is shown for suggestion `index`, each with True where it is shown as
    it ended and False where it is shown in flight (config only). Random search looks at no
    runs; grid search only at configs; bayes at results, within the declared parallelism."""
    if method == "random":
        return []
    earlier = state.by_index[:index]
    seen = results_seen(index, parallelism) if method == "bayes" else 0
    return [(run, position < seen) for position, run in enumerate(earlier)]


def stop_peers(state: SweepState, run: Run, parallelism: int) -> list[Run]:
    """The other runs an early-termination decision about `run` may look at: the settled runs
    0..k-W (settled by the time run k was handed out; see `next_action`)."""
    return [r for r in state.by_index[: results_seen(run.index, parallelism)] if r is not None]


def crashed_event(run: Run, reason: str) -> dict:
    return events.crashed(run.run_id, reason)


def resumes(run: Run) -> bool:
    """Whether the next attempt of `run` resumes it (its folder and W&B run kept), rather than
    starting it again: only after an interruption, which the agent ended cleanly."""
    return run.state == INTERRUPTED
