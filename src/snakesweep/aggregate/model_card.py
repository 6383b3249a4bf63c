"""A short README beside the best model: what it is, how it was chosen, how to use it."""

from __future__ import annotations

from pathlib import Path

from snakesweep import paths
from snakesweep.atomic import atomic_write
from snakesweep.record.sweep_record import SweepRecord


def write_model_card(
    path: str | Path, best: dict, sweep: SweepRecord, counts: dict[str, int]
) -> None:
    metric, accuracy = best["metric"], best["test_accuracy_onnxruntime"]
    config = "\n".join(
        f"| `{k}` | `{v}` |{' swept' if k in best['swept'] else ''}"
        for k, v in sorted(best["config"].items())
    )
    states = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    text = f"""# Best model of sweep `{sweep.name}`

ConvNet for MNIST digits (two 5x5 conv blocks and a linear classifier), chosen by
{sweep.ranking.describe()} = **{metric["value"]:.6g}** among the sweep's runs ({states}).

| | |
|---|---|
| run | `{best["run_id"]}` |
| sweep | `{sweep.sweep_id}` ({sweep.controller} controller, method `{sweep.method}`) |
| seed | `{best["seed"]}` |
| test accuracy (onnxruntime, {best["test_images"]} images) | {accuracy:.4f} |
| test accuracy (PyTorch) | {best["test_accuracy_pytorch"]:.4f} |
| `model.onnx` sha256 | `{best["onnx_sha256"]}` |

## Hyperparameters
| parameter | value | |
|---|---|---|
{config}

## Use
Input `images`: float32, shape `(N, 1, 28, 28)`, pixel values in [0, 1] (normalisation is part of
the graph). Output `logits`: `(N, 10)`; the predicted digit is the argmax.

```python
import numpy as np, onnxruntime as ort
session = ort.InferenceSession("{paths.ONNX_FILE}")
logits = session.run(None, {{"images": np.zeros((1, 1, 28, 28), np.float32)}})[0]
print(logits.argmax(axis=1))
```

All runs are in `{paths.LEADERBOARD}`; each run's files are in `{paths.RUNS_DIR}/<run id>/`.
"""
    with atomic_write(path, "w") as handle:
        handle.write(text)


def write_user_model_card(
    path: str | Path, best: dict, sweep: SweepRecord, counts: dict[str, int]
) -> None:
    """The README beside the best run of the user's own code: how it was chosen, and its files."""
    states = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    config = "\n".join(f"| `{k}` | `{v}` |" for k, v in sorted(best["config"].items()))
    files = "\n".join(
        f"| `{name}` | `{digest}` |" for name, digest in sorted(best["artifacts"].items())
    )
    model = (
        f"`{paths.BEST_MODEL}` (loads in onnxruntime)"
        if best["onnx_sha256"]
        else "none (the run wrote no model.onnx)"
    )
    text = f"""# Best run of sweep `{sweep.name}`

Chosen by {sweep.ranking.describe()} = **{best["metric"]["value"]:.6g}**
among the sweep's runs ({states}).

| | |
|---|---|
| run | `{best["run_id"]}` |
| sweep | `{sweep.sweep_id}` (method `{sweep.method}`, your {sweep.objective.kind}) |
| seed | `{best["seed"]}` |
| model | {model} |

## Parameters
| parameter | value |
|---|---|
{config}

## Files the run wrote (in `{paths.RUNS_DIR}/{best["run_id"]}/files/`)
| file | sha256 |
|---|---|
{files or "| (none) | |"}

All runs are in `{paths.LEADERBOARD}`.
"""
    with atomic_write(path, "w") as handle:
        handle.write(text)
