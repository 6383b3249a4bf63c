"""Two views a researcher looks at first: the metric against each swept parameter, and the
learning curves of the best runs."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on clusters and in CI
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def _save(fig, path: Path) -> None:
    # A fixed creation date keeps the PNG bytes stable across runs of the same sweep.
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)


def metric_vs_parameter(rows: list[dict], metric: str, parameter: str, path: Path) -> None:
    points = [
        (row["config"].get(parameter), row["summary"].get(metric))
        for row in rows
        if isinstance(row["summary"].get(metric), (int, float)) and math.isfinite(row["summary"][metric])
    ]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x, _ in points)
    if numeric:
        ax.scatter([x for x, _ in points], [y for _, y in points])
        positive = [x for x, _ in points if x > 0]
        if positive and len(positive) == len(points) and max(positive) / min(positive) >= 10:
            ax.set_xscale("log")
    else:
        labels = sorted({str(x) for x, _ in points})
        ax.scatter([labels.index(str(x)) for x, _ in points], [y for _, y in points])
        ax.set_xticks(range(len(labels)), labels)
    ax.set_xlabel(parameter)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} vs {parameter} ({len(points)} runs)")
    fig.tight_layout()
    _save(fig, path)


def learning_curves(ranked: list[dict], metric: str, path: Path, top: int = 5) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    for row in ranked[:top]:
        history = [h for h in row["history"] if metric in h]
        if history:
            ax.plot([h["epoch"] for h in history], [h[metric] for h in history], marker="o", label=row["run_id"])
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} of the top {min(top, len(ranked))} runs")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def write_plots(rows: list[dict], ranked: list[dict], metric: str, parameters: list[str], out_dir: str | Path) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for parameter in parameters:
        path = out / f"{metric}_vs_{parameter}.png"
        metric_vs_parameter(rows, metric, parameter, path)
        written.append(path)
    curves = out / f"learning_curves_{metric}.png"
    learning_curves(ranked, metric, curves)
    written.append(curves)
    return written
