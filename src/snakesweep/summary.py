"""What the console says when `snakemake` ends (the Snakefile's `onsuccess:` and `onerror:`).

Without it a run ends with "7 of 7 steps (100%) done" and no word on what was found or where.
The summary is read from the files the aggregate wrote, so it says what the results say.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

from snakesweep import paths
from snakesweep.sweep.metric import published_ranking


def success_summary() -> str:
    """The sweep's outcome, or nothing if this run did not produce one (e.g. only the data
    stage was asked for)."""
    try:
        best = json.loads(Path(paths.BEST_RUN).read_text())
        with open(paths.LEADERBOARD, newline="") as handle:
            states = Counter(row["state"] for row in csv.DictReader(handle))
    except (OSError, ValueError, KeyError):
        return ""
    return render_success(best, states)


def render_success(best: dict, states: dict[str, int]) -> str:
    counts = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    views = ", ".join(
        Path(p).name
        for p in (paths.PARALLEL_COORDINATES, paths.IMPORTANCE_PLOT, paths.PROGRESS_PLOT)
    )
    rows = [
        *_best_rows(best),
        ("leaderboard", paths.LEADERBOARD),
        ("sweep views", f"{paths.PLOTS_DIR}/ ({views})"),
        ("report", "snakemake --report report.html"),
    ]
    lines = [f"snakesweep: sweep {best['sweep_id']} done, {sum(states.values())} runs ({counts})"]
    lines += [f"  {label:<14} {text}" for label, text in rows]
    return "\n".join(lines)


def _best_rows(best: dict) -> list[tuple[str, str]]:
    """The best run and its model: the ConvNet's with its test accuracy, the user's code's
    with the model it wrote (if any), or why there is none."""
    if best["run_id"] is None:
        return [("best run", f"none: {best['reason']}")]
    metric = best["metric"]
    rows = [
        (
            "best run",
            f"{best['run_id']}: {metric['name']} = {metric['value']:.6g} "
            f"({published_ranking(best).qualifier()})",
        )
    ]
    if "test_accuracy_onnxruntime" in best:
        rows.append(
            (
                "test accuracy",
                f"{best['test_accuracy_onnxruntime']:.4f} (onnxruntime, {best['test_images']} "
                "test images)",
            )
        )
    model = (
        paths.BEST_MODEL if best.get("onnx_sha256") else "none (the best run wrote no model.onnx)"
    )
    return [*rows, ("best model", f"{model} (model card: {paths.MODEL_CARD})")]


def failure_summary() -> str:
    """Where to look; Snakemake names the failed job above and its own log right after."""
    return (
        f"snakesweep: the run failed. Each job's log is {paths.LOGS}/<job>.log (the agents': "
        f"{paths.LOGS}/agent-<n>.log); `snakesweep status` shows the sweep's runs. Finished work "
        "is kept: run snakemake again once the cause is fixed."
    )
