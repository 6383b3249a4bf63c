"""`snakesweep status`: where a sweep stands, read from its store while it runs or after.

Strictly read-only, through `snakesweep.inspect.results`, so status works on a read-only
mount, from a cluster's login node, and never makes an agent wait for the lock.

`summarize` is a pure function of the events, the sweep record and the clock; `render` turns
its result into the text the command prints. Files are read by `_snapshot` alone: the results
through `results.load`, and the run schema's defaults when the sweep record lacks the epochs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from snakesweep.aggregate.pareto import front_lines, front_so_far
from snakesweep.inspect.results import load
from snakesweep.record.events import Kind, kind_of
from snakesweep.record.state import (
    CRASHED,
    DONE_STATES,
    FAILED,
    FINISHED,
    INTERRUPTED,
    RUNNING,
    STOPPED,
    fold,
)
from snakesweep.record.sweep_record import Ranking, SweepRecord
from snakesweep.sweep.metric import score

QUEUED = "queued"
STATES = (QUEUED, RUNNING, FINISHED, STOPPED, FAILED, CRASHED, INTERRUPTED)
RECENT = 10  # the time left is estimated from this many latest runs (the first ones warm up)


def planned_runs(sweep_config: dict) -> int | None:
    """How many runs the sweep will have: the grid's size (capped by run_cap), or run_cap;
    None when only the agents' run limits end it (random or bayes without run_cap)."""
    cap = sweep_config.get("run_cap")
    if sweep_config.get("method") != "grid":
        return cap
    size = _grid_size(sweep_config.get("parameters", {}))
    return size if cap is None else min(size, cap)


def _grid_size(parameters: dict) -> int:
    size = 1
    for spec in parameters.values():
        if "parameters" in spec:
            size *= _grid_size(spec["parameters"])
        elif "values" in spec:
            size *= len(spec["values"])
    return size


def summarize(
    events: list[dict], sweep: SweepRecord, now: float, run_defaults: dict | None = None
) -> dict:
    """Everything the status view shows, as plain data. `run_defaults` are the trainer's
    defaults, for the epochs of a run that neither the sweep nor config.yaml's `train` set."""
    config = sweep.config
    ranking = sweep.ranking
    runs = fold(events)
    claimed, finished_at = _times(events)
    counts = {state: 0 for state in STATES}
    for run in runs.values():
        counts[run.state] = counts.get(run.state, 0) + 1
    planned = planned_runs(config)
    counts[QUEUED] = max(0, planned - len(runs)) if planned is not None else None
    defaults = {**(run_defaults or {}), **sweep.train}
    running = [
        {
            "run_id": run.run_id,
            "agent": run.agent,
            "epoch": run.history[-1]["step"] if run.history else 0,
            "epochs": {**defaults, **run.config}.get("epochs"),
            "value": run.history[-1]["value"] if run.history else None,
            "heartbeat_age": max(0.0, now - run.heartbeat),
        }
        for run in runs.values()
        if run.state == RUNNING
    ]
    durations = _recent_durations(runs, claimed, finished_at)
    # Not over while runs are running, queued or waiting to resume, nor before the first claim.
    active = bool(running) or bool(counts[QUEUED]) or bool(counts[INTERRUPTED]) or not runs
    start = min((e["time"] for e in events), default=None)
    end = now if active else max((e["time"] for e in events), default=None)
    return {
        "sweep_id": sweep.sweep_id,
        "name": sweep.name,
        "method": config.get("method"),
        "metric": ranking.name if ranking else None,
        "ranking": ranking,
        "planned": planned,
        "counts": counts,
        "running": running,
        "best": _best(runs.values(), ranking),
        "pareto": front_so_far(runs.values(), config),
        "elapsed": (end - start) if start is not None else 0.0,
        "active": active,
        "left": _time_left(
            durations, counts[QUEUED], [now - claimed[r["run_id"]] for r in running]
        ),
    }


def _times(events: list[dict]) -> tuple[dict, dict]:
    """Each run's latest claim time and its first finish time, which `fold` also keeps (a
    late claim or finish of a finished run is ignored), so a duration is the last attempt's."""
    claimed, finished = {}, {}
    for event in events:
        kind = kind_of(event)
        if kind == Kind.CLAIM and event["run"] not in finished:
            claimed[event["run"]] = event["time"]
        elif kind == Kind.FINISH:
            finished.setdefault(event["run"], event["time"])
    return claimed, finished


def _recent_durations(runs: dict, claimed: dict, finished_at: dict) -> list[float]:
    """How long the latest ended runs took. An agent's first run also pays its process's
    warm-up (about twice a later run's time here), so it counts only while no later run ended."""
    firsts = {}
    for run in runs.values():
        firsts.setdefault(run.agents[0] if run.agents else run.agent, run.run_id)
    ended = sorted(
        (finished_at[r.run_id], r.run_id) for r in runs.values() if r.state in DONE_STATES
    )
    warm = [(end, run_id) for end, run_id in ended if run_id not in firsts.values()] or ended
    return [end - claimed[run_id] for end, run_id in warm[-RECENT:]]


def _best(runs, ranking: Ranking | None) -> dict | None:
    """The best finished or stopped run by its summary value, as the leaderboard ranks."""
    if ranking is None:
        return None
    scored = [
        (value, run)
        for run in runs
        if (value := score(run.state, run.summary, ranking.name)) is not None
    ]
    if not scored:
        return None
    pick = max if ranking.goal == "maximize" else min
    value, run = pick(scored, key=lambda item: item[0])
    return {"run_id": run.run_id, "value": value, "config": run.config, "summary": run.summary}


def _time_left(
    durations: list[float], queued: int | None, running_ages: list[float]
) -> float | None:
    """Seconds until the last run ends, from the mean duration of the latest ended runs (early
    stopped and failed ones included: the runs to come will end the same mix of ways) and as
    many runs at a time as are running now; None when it cannot be known yet."""
    if queued is None or not durations:
        return None if (queued is None or queued or running_ages) else 0.0
    mean = sum(durations) / len(durations)
    work = queued * mean + sum(max(0.0, mean - age) for age in running_ages)
    return work / max(1, len(running_ages))


def render(summary: dict) -> str:
    """The status as a few lines of plain text (no colours: it goes to logs and pipes too)."""
    counts = summary["counts"]
    lines = [
        f"sweep {summary['sweep_id']} ({summary['name']}): {summary['method']}, "
        + (
            f"metric {summary['ranking'].describe()}"
            if summary["ranking"]
            else "no metric: runs are not ranked"
        ),
        "runs: "
        + _counts(counts)
        + (
            f" (of {summary['planned']} planned)"
            if summary["planned"] is not None
            else " (no run_cap: open-ended)"
        ),
    ]
    if summary["running"]:
        lines.append(
            f"  {'run':<16} {'agent':>5} {'epoch':>7} {summary['metric'] or 'metric':>14} "
            f"{'heartbeat':>10}"
        )
        for run in summary["running"]:
            epoch = f"{run['epoch']}/{run['epochs'] if run['epochs'] is not None else '?'}"
            value = "-" if run["value"] is None else f"{run['value']:.4g}"
            lines.append(
                f"  {run['run_id']:<16} {run['agent']:>5} {epoch:>7} {value:>14} "
                f"{run['heartbeat_age']:>8.0f} s"
            )
    best = summary["best"]
    if summary["ranking"] is None:
        lines.append("best: none: the sweep file names no metric, so no run is ranked")
    elif best is None:
        lines.append("best: none finished yet")
    else:
        settings = ", ".join(f"{k}={_short(v)}" for k, v in sorted(best["config"].items()))
        lines.append(
            f"best: {best['run_id']} {summary['metric']} = {best['value']:.6g} ({settings})"
        )
        logged = ", ".join(
            f"{k}={_short(v)}"
            for k, v in sorted(best["summary"].items())
            if k != summary["metric"] and not k.startswith("_")
        )
        if logged:
            lines.append(f"  its last values: {logged}")
    lines += front_lines(summary.get("pareto"))
    lines.append(f"elapsed {_duration(summary['elapsed'])}, {_when(summary)}")
    return "\n".join(lines)


def _when(summary: dict) -> str:
    left = summary["left"]
    if not summary["active"]:
        return "done"
    if left is None:
        return (
            "time left unknown until a run finishes"
            if summary["planned"] is not None
            else "time left unknown"
        )
    return f"about {_duration(left)} left"


def _counts(counts: dict) -> str:
    """Runs by state; `interrupted` named only while a run waits to resume."""
    shown = (s for s in STATES if s != INTERRUPTED or counts[s])
    return ", ".join(f"{'?' if counts[s] is None else counts[s]} {s}" for s in shown)


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def show(results: str | Path, watch: float | None = None, out=None) -> int:
    """Print the status once, or every `watch` seconds until Ctrl-C."""
    out = out or sys.stdout
    if watch is None:
        print(_snapshot(results), file=out, flush=True)
        return 0
    clear = "\033[H\033[2J" if out.isatty() else ""  # redraw in place on a terminal
    try:
        while True:
            text = _snapshot(results)
            print(
                f"{clear}{time.strftime('%H:%M:%S')} (every {watch:g} s, Ctrl-C to quit)\n{text}\n",
                file=out,
                flush=True,
            )
            time.sleep(watch)
    except KeyboardInterrupt:
        return 0


def _snapshot(results: str | Path) -> str:
    sweep = load(results)
    return render(summarize(sweep.events, sweep.record, time.time(), _run_defaults(sweep.record)))


def _run_defaults(sweep: SweepRecord) -> dict:
    """The trainer's defaults, when the sweep's `train` section does not set the epochs. Only
    then: the run schema's checker (jsonschema, numpy) doubles the time a status call takes."""
    if "epochs" in sweep.train or sweep.objective.user_code:
        return {}  # set, or the user's code, whose epochs (if any) are in each run's config
    from snakesweep.convnet.run_config import defaults, load_schema

    return defaults(load_schema())
