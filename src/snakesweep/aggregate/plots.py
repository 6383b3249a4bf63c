"""Two views a researcher looks at first: the metric against each swept parameter, and the
learning curves of the best runs. The W&B-style sweep views are in `views.py`."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on clusters and in CI
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from snakesweep.atomic import atomic_write  # noqa: E402


def save_figure(fig, path: Path) -> None:
    """Write `fig` as a PNG whose bytes depend only on the figure and the library versions.

    Matplotlib's PNGs carry no date; their one text chunk by default is `Software` (the
    matplotlib version and URL), which is dropped here, so the file holds only the image
    (tests/unit/aggregate/test_views.py checks there is no tEXt, iTXt or tIME chunk).
    `atomic_write` keeps a crash from leaving half a PNG behind.
    """
    with atomic_write(path) as handle:
        fig.savefig(handle, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)


def log_scaled(values: list) -> bool:
    """Whether to draw `values` on a log axis: positive numbers over a decade or more whose
    median sits nearer the middle of a log axis than of a linear one. Learning rates and
    batch sizes in powers of two are; a uniform draw of dropout that comes close to 0 is not."""
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if (
        not numbers
        or len(numbers) != len(values)
        or min(numbers) <= 0
        or max(numbers) / min(numbers) < 10
    ):
        return False
    low, mid, high = min(numbers), statistics.median(numbers), max(numbers)
    on_linear = (mid - low) / (high - low)
    on_log = math.log(mid / low) / math.log(high / low)
    return abs(on_log - 0.5) < abs(on_linear - 0.5)


def metric_vs_parameter(rows: list[dict], metric: str, parameter: str, path: Path) -> None:
    points = [
        (row["config"].get(parameter), row["summary"].get(metric))
        for row in rows
        if isinstance(row["summary"].get(metric), (int, float))
        and math.isfinite(row["summary"][metric])
    ]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x, _ in points)
    if numeric:
        ax.scatter([x for x, _ in points], [y for _, y in points])
        if log_scaled([x for x, _ in points]):
            ax.set_xscale("log")
    else:
        labels = sorted({str(x) for x, _ in points})
        ax.scatter([labels.index(str(x)) for x, _ in points], [y for _, y in points])
        ax.set_xticks(range(len(labels)), labels)
    ax.set_xlabel(parameter)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} vs {parameter} ({len(points)} runs)")
    fig.tight_layout()
    save_figure(fig, path)


def learning_curves(ranked: list[dict], metric: str, path: Path, top: int = 5) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    for row in ranked[:top]:
        history = [h for h in row["history"] if metric in h]
        if history:
            ax.plot(
                [h["epoch"] for h in history],
                [h[metric] for h in history],
                marker="o",
                label=row["run_id"],
            )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} of the top {min(top, len(ranked))} runs")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def write_plots(
    rows: list[dict], ranked: list[dict], metric: str, parameters: list[str], out_dir: str | Path
) -> list[Path]:
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
