"""The sweep views W&B users know, drawn offline: parallel coordinates, parameter importance,
and the metric of each run in order with the best-so-far line.

Each view is one PNG under results/plots/ (names in `snakesweep.paths`), sized by the number
of parameters and readable from 1 swept parameter to a few hundred runs: lines and points get
thinner and more transparent as runs are added, the best run is always drawn on top, and an
axis with many categories labels only some of them.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.colors import LogNorm
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from snakesweep import paths
from snakesweep.aggregate.importance import is_numeric, scored_runs
from snakesweep.aggregate.plots import log_scaled, plt, save_figure

MAX_CATEGORY_LABELS = 12


def write_views(
    rows: list[dict],
    metric: str,
    goal: str,
    parameters: list[str],
    importance: list[dict],
    out_dir: str | Path,
) -> list[Path]:
    names = (paths.PARALLEL_COORDINATES, paths.IMPORTANCE_PLOT, paths.PROGRESS_PLOT)
    written = [Path(out_dir) / Path(name).name for name in names]
    parallel_coordinates(rows, metric, goal, parameters, written[0])
    importance_figure(importance, metric, written[1])
    progress(rows, metric, goal, written[2])
    return written


def _axis(values: list) -> tuple[np.ndarray, list[float], list[str]]:
    """A column of values mapped to [0, 1], with tick positions and labels: numbers on a
    linear or log scale (ticked at their values when there are few and they lie apart), anything
    else as evenly spaced categories."""
    if not is_numeric(values):
        categories = sorted({str(v) for v in values})
        where = {c: i / max(1, len(categories) - 1) for i, c in enumerate(categories)}
        shown = categories[:: math.ceil(len(categories) / MAX_CATEGORY_LABELS)]
        return np.array([where[str(v)] for v in values]), [where[c] for c in shown], shown
    log = log_scaled(values)
    raw = np.log10(np.array(values, dtype=float)) if log else np.array(values, dtype=float)
    low, high = float(raw.min()), float(raw.max())
    if high == low:
        return np.full(len(raw), 0.5), [0.5], [f"{values[0]:.3g}"]
    distinct = np.unique(raw)
    spread = len(distinct) <= 6 and np.diff(distinct).min() >= 0.08 * (high - low)  # labels apart
    ticks = distinct if spread else np.linspace(low, high, 5)
    labels = [f"{10**t if log else t:.3g}" for t in ticks]
    return (raw - low) / (high - low), list((ticks - low) / (high - low)), labels


def parallel_coordinates(
    rows: list[dict], metric: str, goal: str, parameters: list[str], path: Path
) -> None:
    """One vertical axis per swept parameter and one for the metric; one line per run,
    coloured by its metric (brighter is better), the best run in black on top."""
    scored = scored_runs(rows, metric)
    columns = [*parameters, metric]
    fig, ax = plt.subplots(figsize=(max(6.0, 2.0 * len(columns)), 4.5))
    if not scored:
        _empty(ax, f"no run has a value of {metric} yet")
        save_figure(fig, path)
        return
    values = [[row["config"].get(p) for row in scored] for p in parameters] + [
        [row["summary"][metric] for row in scored]
    ]
    axes = [_axis(column) for column in values]
    ys = np.column_stack([a[0] for a in axes])
    score = np.array(values[-1], dtype=float)
    cmap = plt.get_cmap("viridis" if goal == "maximize" else "viridis_r")
    lines = LineCollection(
        [np.column_stack([np.arange(len(columns)), y]) for y in ys],
        array=score,
        cmap=cmap,
        norm=LogNorm() if log_scaled(values[-1]) else None,  # as the metric's axis
        linewidths=_thin(len(scored), 2.0),
        alpha=_alpha(len(scored)),
    )
    ax.add_collection(lines)
    best = int(np.argmax(score) if goal == "maximize" else np.argmin(score))
    ax.plot(
        np.arange(len(columns)),
        ys[best],
        color="black",
        linewidth=2.5,
        label=f"best: {scored[best]['run_id']}",
    )
    _draw_axes(ax, axes)
    ax.set_xticks(range(len(columns)), columns)
    ax.set_xlim(-0.1, len(columns) - 0.6)
    ax.set_ylim(-0.05, 1.05)
    ax.set_yticks([])
    # The colour scale without the lines' transparency, so it reads like the lines' colours.
    bar = fig.colorbar(ScalarMappable(norm=lines.norm, cmap=cmap), ax=ax, label=metric, pad=0.02)
    if isinstance(lines.norm, LogNorm):  # ticks at 0.1, 0.2, 0.5, 1, ..., not 2 x 10^-1
        bar.ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.3g}"))
        bar.ax.yaxis.set_minor_formatter(NullFormatter())
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), fontsize=8, frameon=False)
    ax.set_title(f"{len(scored)} runs{_unscored(rows, scored)}, coloured by {metric} ({goal})")
    fig.tight_layout()
    save_figure(fig, path)


def _draw_axes(ax, axes: list) -> None:
    """Each parameter's vertical axis, with its tick labels."""
    for i, (_, ticks, labels) in enumerate(axes):
        ax.axvline(i, color="0.3", linewidth=1)
        for tick, label in zip(ticks, labels, strict=True):
            ax.text(
                i + 0.03,
                tick,
                label,
                fontsize=8,
                va="center",
                ha="left",
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 1},
            )


def importance_figure(table: list[dict], metric: str, path: Path) -> None:
    """Two bar charts side by side, as in W&B's panel: importance (0 to 1) and correlation
    (-1 to 1, green when a higher parameter value goes with a higher metric)."""
    names = [entry["parameter"] for entry in table][::-1]  # most important at the top
    fig, (left, right) = plt.subplots(
        1, 2, sharey=True, figsize=(8, max(2.5, 1.5 + 0.4 * len(names)))
    )
    if not names or table[0]["importance"] is None:
        _empty(left, f"needs 2 or more runs\nwith different {metric}")
        right.axis("off")
        save_figure(fig, path)
        return
    importance = [entry["importance"] for entry in table][::-1]
    correlation = [entry["correlation"] or 0.0 for entry in table][::-1]
    left.barh(names, importance, color="tab:blue")
    left.set_xlim(0, 1.15)  # room for the value's label beside a full bar
    left.set_xticks(np.linspace(0, 1, 6))
    left.set_xlabel("importance (random forest)")
    right.barh(
        names, correlation, color=["tab:green" if c >= 0 else "tab:red" for c in correlation]
    )
    right.set_xlim(-1.3, 1.3)
    right.set_xticks(np.linspace(-1, 1, 5))
    right.axvline(0, color="0.3", linewidth=0.8)
    right.set_xlabel(f"correlation with {metric}")
    for ax, numbers in ((left, importance), (right, correlation)):
        for y, number in enumerate(numbers):
            ax.text(
                number,
                y,
                f" {number:.2f} ",
                va="center",
                ha="left" if number >= 0 else "right",
                fontsize=8,
            )
    fig.suptitle(f"parameter importance for {metric}")
    fig.tight_layout()
    save_figure(fig, path)


def progress(rows: list[dict], metric: str, goal: str, path: Path) -> None:
    """The metric of each run by run index (the order the sweep suggested them), with the best
    value found so far: how fast the search improved, and whether it still does."""
    scored = sorted(scored_runs(rows, metric), key=lambda row: row["index"])
    fig, ax = plt.subplots(figsize=(7, 4))
    if not scored:
        _empty(ax, f"no run has a value of {metric} yet")
        save_figure(fig, path)
        return
    size = 36 if len(scored) <= 30 else 12
    for state, marker in (("finished", "o"), ("stopped", "x")):
        points = [(row["index"], row["summary"][metric]) for row in scored if row["state"] == state]
        if points:
            ax.scatter(
                *zip(*points, strict=True),
                s=size,
                marker=marker,
                alpha=_alpha(len(scored)),
                label=state,
                zorder=2,
            )
    best = np.maximum.accumulate if goal == "maximize" else np.minimum.accumulate
    index = [row["index"] for row in scored]
    so_far = best(np.array([row["summary"][metric] for row in scored]))
    ax.step(index, so_far, where="post", color="black", label="best so far", zorder=3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("run index (order of suggestion)")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} of {len(scored)} runs{_unscored(rows, scored)}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def _thin(runs: int, widest: float) -> float:
    return widest if runs <= 20 else max(0.6, widest * math.sqrt(20 / runs))


def _alpha(runs: int) -> float:
    return 0.9 if runs <= 20 else max(0.35, 0.9 * math.sqrt(20 / runs))


def _unscored(rows: list[dict], scored: list[dict]) -> str:
    missing = len(rows) - len(scored)
    return f" ({missing} failed or crashed, not shown)" if missing else ""


def _empty(ax, message: str) -> None:
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=12, transform=ax.transAxes)
