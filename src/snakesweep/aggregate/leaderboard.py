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

from snakesweep.atomic import atomic_write
from snakesweep.record.state import Run
from snakesweep.sweep.metric import score
from snakesweep.train.outputs import METRICS_FILE

REPORTED_METRICS = ("val_accuracy", "val_loss", "test_accuracy", "test_loss")


def collect(runs: dict[str, Run], runs_dir: str | Path) -> list[dict]:
    """One row per run of the store, joined with its metrics.json when the run wrote one."""
    rows = []
    for run in runs.values():
        metrics_file = Path(runs_dir) / run.run_id / METRICS_FILE
        metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
        history = metrics.get("history") or []
        # per-epoch metrics (val_*) as of the last epoch, then the final ones (test_*)
        final = {**(history[-1] if history else {}), **(metrics.get("final") or {})}
        rows.append(
            {
                "run_id": run.run_id,
                "index": run.index,
                "state": run.state,
                "config": run.config,
                "run_config": metrics.get("config") or {},
                "summary": run.summary,
                "metrics": {key: final.get(key) for key in REPORTED_METRICS},
                "epochs_completed": final.get("epochs_completed"),
                "onnx_sha256": (metrics.get("onnx") or {}).get("sha256"),
                "reason": run.reason or metrics.get("reason"),
                "history": history,
            }
        )
    return rows


def rank(rows: list[dict], metric: str, goal: str) -> list[dict]:
    """Best first by the sweep metric's summary value; unranked runs (failed, crashed, no
    finite metric) after them, by run id."""

    def value(row):
        return score(row["state"], row["summary"], metric)

    ranked = [r for r in rows if is_ranked(r, metric)]
    ranked.sort(key=lambda r: (-value(r) if goal == "maximize" else value(r), r["run_id"]))
    rest = sorted((r for r in rows if not is_ranked(r, metric)), key=lambda r: r["run_id"])
    return ranked + rest


def is_ranked(row: dict, metric: str) -> bool:
    return score(row["state"], row["summary"], metric) is not None


def write_leaderboard(path: str | Path, ranked: list[dict], metric: str, parameters: list[str]) -> None:
    with atomic_write(path, "w") as handle:
        handle.write(leaderboard_text(ranked, metric, parameters))


def leaderboard_text(ranked: list[dict], metric: str, parameters: list[str]) -> str:
    """The leaderboard's CSV text (`snakesweep verify` recomputes it to check the file)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["rank", "run_id", "state", metric, *parameters, *(m for m in REPORTED_METRICS if m != metric),
         "epochs_completed", "onnx_sha256", "reason"]
    )
    for position, row in enumerate(ranked, start=1):
        writer.writerow(
            [
                position if is_ranked(row, metric) else "",
                row["run_id"],
                row["state"],
                _cell(row["summary"].get(metric)),
                *(_cell(row["config"].get(p)) for p in parameters),
                *(_cell(row["metrics"][m]) for m in REPORTED_METRICS if m != metric),
                _cell(row["epochs_completed"]),
                row["onnx_sha256"] or "",
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
