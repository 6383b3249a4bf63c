"""Multi-objective sweeps (`metrics: [...]`): the Pareto front of the runs, and its plot.

A run is on the front when no other ranked run is at least as good on every objective and
better on one. Only runs that are ranked on every objective (finished or stopped early, a
finite value of each metric: `snakesweep.sweep.metric.score`) take part.

`results/best/` keeps one published run, as for every sweep, picked by a declared rule: the
first metric listed in `metrics` (the best run on one objective is always on the front). The
front itself, every run on it with its values, config and folder, is
`results/best/pareto_front.json`, so a user who wants another trade-off picks from it; the
models stay in each run's own folder rather than being copied, because the front of a long
sweep can hold many runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from snakesweep import paths
from snakesweep.atomic import atomic_write
from snakesweep.sweep.metric import DEFAULT_GOAL, score


def objectives(sweep_config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(name, goal) of each objective of a multi-objective sweep; [] for any other sweep."""
    return [(m["name"], m.get("goal", DEFAULT_GOAL)) for m in sweep_config.get("metrics") or []]


def _signed(row: dict, objectives: list[tuple[str, str]]) -> tuple[float, ...] | None:
    """The row's values, negated where the goal is to maximize (so smaller is better)."""
    values = [score(row["state"], row["summary"], name) for name, _ in objectives]
    if any(v is None for v in values):
        return None
    return tuple(
        -v if goal == "maximize" else v for v, (_, goal) in zip(values, objectives, strict=True)
    )


def front(rows: list[dict], objectives: list[tuple[str, str]]) -> list[str]:
    """The ids of the runs on the Pareto front, sorted."""
    points = {r["run_id"]: p for r in rows if (p := _signed(r, objectives)) is not None}

    def dominated(p: tuple[float, ...]) -> bool:
        return any(
            all(a <= b for a, b in zip(q, p, strict=True)) and q != p for q in points.values()
        )

    return sorted(run for run, p in points.items() if not dominated(p))


def write_front(path: str | Path, rows: list[dict], objectives: list[tuple[str, str]]) -> None:
    """`pareto_front.json`: each run on the front with its objective values and config."""
    on_front = set(front(rows, objectives))
    entries = [
        {
            "run_id": row["run_id"],
            "values": {name: row["summary"][name] for name, _ in objectives},
            "config": row["config"],
            "run_dir": f"{paths.RUNS_DIR}/{row['run_id']}",
        }
        for row in sorted(rows, key=lambda r: r["run_id"])
        if row["run_id"] in on_front
    ]
    document = {"objectives": [{"name": n, "goal": g} for n, g in objectives], "front": entries}
    with atomic_write(path, "w") as handle:
        handle.write(json.dumps(document, indent=2, sort_keys=True) + "\n")


def pareto_plot(rows: list[dict], objectives: list[tuple[str, str]], path: Path) -> None:
    """The runs on the first two objectives, the front marked and joined."""
    from snakesweep.aggregate.plots import plt, save_figure

    (x_name, _), (y_name, _) = objectives[:2]
    on_front = set(front(rows, objectives))
    points = [(r, _signed(r, objectives)) for r in rows]
    points = [(r, r["summary"][x_name], r["summary"][y_name]) for r, p in points if p]
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter([x for _, x, _ in points], [y for _, _, y in points], c="lightgray", label="runs")
    best = sorted((x, y) for r, x, y in points if r["run_id"] in on_front)
    ax.plot([x for x, _ in best], [y for _, y in best], "o-", color="C3", label="Pareto front")
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)
    ax.set_title(f"Pareto front: {len(best)} of {len(points)} runs")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def front_so_far(runs, sweep_config: dict) -> dict | None:
    """A multi-objective sweep's front so far, for `snakesweep status`: its objectives and each
    front run's values (`runs`: the record's runs); None for a sweep of one objective."""
    if not (goals := objectives(sweep_config)):
        return None
    rows = [{"run_id": r.run_id, "state": r.state, "summary": r.summary} for r in runs]
    summaries = {r.run_id: r.summary for r in runs}
    values = [
        (run_id, [summaries[run_id][name] for name, _ in goals]) for run_id in front(rows, goals)
    ]
    return {"objectives": [name for name, _ in goals], "front": values}


def front_lines(pareto: dict | None) -> list[str]:
    """A multi-objective sweep's front so far: a heading and one line per run."""
    if not pareto:
        return []
    heading = f"Pareto front ({', '.join(pareto['objectives'])}): {len(pareto['front'])} runs"
    return [heading] + [
        f"  {run_id}: " + ", ".join(f"{v:.6g}" for v in values)
        for run_id, values in pareto["front"]
    ]
