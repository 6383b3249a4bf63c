"""The events of a sweep's log: their kinds, and one constructor for each.

An event is a plain dict, as the store writes it (one JSON object a line) and every reader gets
it back: folding thousands of them must stay cheap, so they are not wrapped in objects. This
module alone spells the key that names an event's kind and the kinds themselves; everything
else builds events with the constructors below and asks `kind_of`. Each event carries `run`,
the run's id, and `time`, its writer's clock (stamped when it is appended).

- `claim`     an agent took a config: `index`, `config` (the objective's flat keys),
              `engine_config` (the engine's `{name: {"value": v}}` form), `agent`, `attempt`
- `heartbeat` the run's agent is alive
- `metric`    one iteration's value of the sweep metric: `step`, `value`
- `stop`      early termination decided, at iteration `step`, that the run should stop
- `finish`    the run ended: `state` (finished, failed or stopped), `summary`, `reason`,
              `onnx_sha256`, the digest of the model file it wrote, and for the user's own
              code `artifacts`, the digest of every file it wrote (for `snakesweep verify`)
- `crashed`   the run's agent stopped sending heartbeats, or restarted: `reason`
- `interrupted` the run's agent was told to end (a time limit, preemption, Ctrl-C) and stopped
              the run: `reason`; it is handed out again at once, to resume, and this does
              not count as one of its attempts failing
- `retry`     the user asked for a failed run (or one given up after crashing) to run again
              (`snakesweep retry`)
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any


class Kind(enum.StrEnum):
    CLAIM = "claim"
    HEARTBEAT = "heartbeat"
    METRIC = "metric"
    STOP = "stop"
    FINISH = "finish"
    CRASHED = "crashed"
    RETRY = "retry"
    INTERRUPTED = "interrupted"


_KEY = "event"  # the field that names an event's kind
_KINDS = {kind.value: kind for kind in Kind}


def kind_of(event: Mapping[str, Any]) -> Kind | None:
    """The event's kind; None for one this version does not know (it is then ignored)."""
    return _KINDS.get(event.get(_KEY))


def _event(kind: Kind, run: str, time: float | None, **fields: Any) -> dict:
    event = {_KEY: kind.value, "run": run, **fields}
    if time is not None:
        event["time"] = time
    return event


def claim(
    run: str, index: int, config: dict, engine_config: dict, agent: str, attempt: int
) -> dict:
    return _event(
        Kind.CLAIM,
        run,
        None,
        index=index,
        config=config,
        engine_config=engine_config,
        agent=agent,
        attempt=attempt,
    )


def heartbeat(run: str) -> dict:
    return _event(Kind.HEARTBEAT, run, None)


def metric(run: str, step: int, value: float | str, time: float) -> dict:
    """`value` is a number, or "nan", "inf" or "-inf" (JSON has no such numbers)."""
    return _event(Kind.METRIC, run, time, step=step, value=value)


def stop(run: str, step: int) -> dict:
    return _event(Kind.STOP, run, None, step=step)


def finish(run: str, outcome: Mapping[str, Any], time: float) -> dict:
    """A run's end from its outcome (`state`, `summary`, `reason`, and where there are any,
    `onnx_sha256` and `artifacts`)."""
    event = _event(
        Kind.FINISH,
        run,
        time,
        state=outcome["state"],
        summary=outcome.get("summary") or {},
        reason=outcome.get("reason"),
    )
    if outcome.get("onnx_sha256"):
        event["onnx_sha256"] = outcome["onnx_sha256"]
    if outcome.get("artifacts") is not None:
        event["artifacts"] = outcome["artifacts"]
    return event


def crashed(run: str, reason: str) -> dict:
    return _event(Kind.CRASHED, run, None, reason=reason)


def retry(run: str, time: float) -> dict:
    return _event(Kind.RETRY, run, time)


def interrupted(run: str, reason: str, time: float) -> dict:
    return _event(Kind.INTERRUPTED, run, time, reason=reason)
