"""Parameter importance, computed as W&B's parameter importance panel does.

W&B fits a random forest with the hyperparameters as inputs and the metric as the target and
reports the forest's feature importances, next to each hyperparameter's linear (Pearson)
correlation with the metric. We do the same with scikit-learn, offline: numeric parameters
are used as they are, and a categorical one (optimizer, ...) becomes one 0/1 column per value,
named `parameter=value`, because a forest and a correlation both need numbers. The forest is
seeded from the sweep's seed, so the table is the same on every rerun of the same sweep.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from snakesweep.atomic import atomic_write
from snakesweep.seeding import derive_seed
from snakesweep.sweep.metric import score

COLUMNS = ("parameter", "importance", "correlation")
TREES = 100


def scored_runs(rows: list[dict], metric: str) -> list[dict]:
    """The runs that are ranked (`snakesweep.sweep.metric.score`), in their order."""
    return [row for row in rows if score(row["state"], row["summary"], metric) is not None]


def is_numeric(values: list) -> bool:
    return bool(values) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
    )


def features(rows: list[dict], parameters: list[str]) -> tuple[list[str], np.ndarray]:
    """The design matrix: one column per numeric parameter, one 0/1 column per value of a
    categorical one."""
    names, columns = [], []
    for parameter in parameters:
        values = [row["config"].get(parameter) for row in rows]
        if is_numeric(values):
            names.append(parameter)
            columns.append(np.array(values, dtype=float))
            continue
        for label in sorted({str(v) for v in values}):
            names.append(f"{parameter}={label}")
            columns.append(np.array([str(v) == label for v in values], dtype=float))
    matrix = np.column_stack(columns) if columns else np.zeros((len(rows), 0))
    return names, matrix


def parameter_importance(
    rows: list[dict], metric: str, parameters: list[str], seed: int
) -> list[dict]:
    """One entry per feature, most important first. Importance and correlation are None when
    they are undefined: fewer than two scored runs, a metric that never varied, or (for the
    correlation) a parameter that never varied."""
    scored = scored_runs(rows, metric)
    names, x = features(scored, parameters)
    y = np.array([row["summary"][metric] for row in scored], dtype=float)
    if len(scored) < 2 or np.ptp(y) == 0:
        return [{"parameter": name, "importance": None, "correlation": None} for name in names]
    from sklearn.ensemble import RandomForestRegressor

    forest = RandomForestRegressor(
        n_estimators=TREES, random_state=derive_seed(seed, "importance") % 2**32, n_jobs=1
    )
    forest.fit(x, y)
    table = [
        {"parameter": name, "importance": float(weight), "correlation": _correlation(x[:, i], y)}
        for i, (name, weight) in enumerate(zip(names, forest.feature_importances_, strict=True))
    ]
    return sorted(table, key=lambda entry: (-entry["importance"], entry["parameter"]))


def _correlation(column: np.ndarray, y: np.ndarray) -> float | None:
    if np.ptp(column) == 0:
        return None
    return float(np.corrcoef(column, y)[0, 1])


def write_importance(path: str | Path, table: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for entry in table:
        writer.writerow([entry["parameter"], *(_cell(entry[key]) for key in COLUMNS[1:])])
    with atomic_write(path, "w") as handle:
        handle.write(buffer.getvalue())


def _cell(value: float | None) -> str:
    return "" if value is None else repr(round(value, 6))
