"""Every run of the sweep in one table, best first, failures included.

The table's content is a function of the runs' results only: no timestamps, no W&B ids, no
attempt counts or agent names (those depend on timing and crashes), so two runs of the same
deterministic sweep give byte-identical files.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from snakesweep import paths
from snakesweep.aggregate.pareto import front, objectives
from snakesweep.atomic import atomic_write
from snakesweep.record.state import Run
from snakesweep.record.sweep_record import SweepRecord
from snakesweep.sweep.metric import score
from snakesweep.sweep.spec import flatten_parameter_names

REPORTED_METRICS = ("val_accuracy", "val_loss", "test_accuracy", "test_loss")  # the ConvNet's
CONVNET_COLUMNS = ("epochs_completed", "onnx_sha256")
PARETO_COLUMN = "pareto_front"  # a multi-objective sweep's: "yes" on the front


def build(
    sweep: SweepRecord, runs: dict[str, Run], runs_dir: str | Path
) -> tuple[list[dict], list[dict], str]:
    """The rows (in the store's order), the same best first, and the leaderboard's CSV text:
    what the aggregate writes and `snakesweep verify` recomputes from the store."""
    ranking = sweep.ranking
    metric = ranking.name if ranking else None
    user_code = sweep.objective.user_code
    rows = collect(runs, runs_dir, user_code)
    ranked = rank(rows, metric, ranking.goal if ranking else None)
    columns = value_columns(rows, metric, user_code)
    if sweep_objectives := objectives(sweep.config):
        on_front = set(front(rows, sweep_objectives))
        for row in rows:
            row["metrics"][PARETO_COLUMN] = "yes" if row["run_id"] in on_front else None
        columns = [PARETO_COLUMN, *(c for c in columns if c != PARETO_COLUMN)]
    parameters = parameter_names(sweep.config, rows)
    return rows, ranked, leaderboard_text(ranked, metric, parameters, columns)


def parameter_names(sweep_config: dict, rows: list[dict]) -> list[str]:
    """The swept parameters, sorted: those the sweep file declares and, for a define-by-run
    space (`scheduler.search_space`, which may leave `parameters` out), every key of a run's
    config."""
    declared = set(flatten_parameter_names(sweep_config.get("parameters", {})))
    return sorted(declared.union(*(row["config"] for row in rows)))


def collect(runs: dict[str, Run], runs_dir: str | Path, user_code: bool = False) -> list[dict]:
    """One row per run of the store, joined with its metrics.json when the run wrote one. The
    ConvNet's values come from its metrics.json; the user's code's are what it logged, its
    summary in the store."""
    rows = []
    for run in runs.values():
        metrics_file = Path(runs_dir) / run.run_id / paths.RUN_METRICS
        metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
        history = metrics.get("history") or []
        if user_code:
            values = dict(run.summary)
            # the curves' x: the epoch the code logged with its values, else W&B's step
            history = [
                {**row, "epoch": row.get("epoch", row.get("_step", i))}
                for i, row in enumerate(history)
            ]
        else:
            # per-epoch metrics (val_*) as of the last epoch, then the final ones (test_*)
            final = {**(history[-1] if history else {}), **(metrics.get("final") or {})}
            values = {key: final.get(key) for key in (*REPORTED_METRICS, "epochs_completed")}
            values["onnx_sha256"] = (metrics.get("onnx") or {}).get("sha256")
        rows.append(
            {
                "run_id": run.run_id,
                "index": run.index,
                "state": run.state,
                "config": run.config,
                "run_config": metrics.get("config") or {},
                "summary": run.summary,
                "metrics": values,
                "onnx_sha256": run.onnx_sha256 if user_code else values["onnx_sha256"],
                "artifacts": run.artifacts,
                "reason": run.reason or metrics.get("reason"),
                "history": history,
            }
        )
    return rows


def value_columns(rows: list[dict], metric: str | None, user_code: bool) -> list[str]:
    """The value columns after the parameters: the ConvNet's fixed set, or every key the user's
    runs logged (their last values), sorted."""
    if not user_code:
        return [*(m for m in REPORTED_METRICS if m != metric), *CONVNET_COLUMNS]
    return sorted({key for row in rows for key in row["metrics"]} - {metric, "_step"})


def rank(rows: list[dict], metric: str | None, goal: str | None) -> list[dict]:
    """Best first by the ranking metric's summary value; unranked runs (failed, crashed, no
    finite metric, or no metric to rank by at all) after them, by run id."""

    def value(row):
        return score(row["state"], row["summary"], metric)

    ranked = [r for r in rows if is_ranked(r, metric)]
    ranked.sort(key=lambda r: (-value(r) if goal == "maximize" else value(r), r["run_id"]))
    rest = sorted((r for r in rows if not is_ranked(r, metric)), key=lambda r: r["run_id"])
    return ranked + rest


def is_ranked(row: dict, metric: str | None) -> bool:
    return metric is not None and score(row["state"], row["summary"], metric) is not None


def write_leaderboard(path: str | Path, text: str) -> None:
    with atomic_write(path, "w") as handle:
        handle.write(text)


def leaderboard_text(
    ranked: list[dict], metric: str | None, parameters: list[str], columns: list[str]
) -> str:
    """The leaderboard's CSV text; without a metric to rank by, no metric column and no ranks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    metric_column = [metric] if metric else []
    writer.writerow(["rank", "run_id", "state", *metric_column, *parameters, *columns, "reason"])
    for position, row in enumerate(ranked, start=1):
        writer.writerow(
            [
                position if is_ranked(row, metric) else "",
                row["run_id"],
                row["state"],
                *(_cell(row["summary"].get(metric)) for metric in metric_column),
                *(_cell(row["config"].get(p)) for p in parameters),
                *(_cell(row["metrics"].get(c)) for c in columns),
                row["reason"] or "",
            ]
        )
    return buffer.getvalue()


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # shortest round-trip form: stable and exact
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)
