"""The pieces execute_run and train are made of, each on plain data."""

import os

import numpy as np
import pytest
import torch

from snakesweep.convnet import trainer
from snakesweep.convnet.run import cached_dataset
from snakesweep.convnet.trainer import divergence, timed
from snakesweep.data.arrays import save_arrays
from snakesweep.data.dataset import DataFiles


def test_divergence_names_the_first_bad_step():
    assert divergence(torch.tensor([1.0, 2.0]), epoch=1, steps_before=0) is None
    losses = torch.tensor([1.0, float("inf"), float("nan")])
    assert divergence(losses, epoch=3, steps_before=10) == "loss became inf at epoch 3 step 12"
    assert (
        divergence(torch.tensor([float("nan")]), epoch=1, steps_before=0)
        == "loss became nan at epoch 1 step 1"
    )


def test_timed_adds_up_and_survives_errors(monkeypatch):
    """On a clock that reads 10.0, 10.5, 20.0, 20.25: a block of 0.5 s, then one of 0.25 s that
    raises. A timer that overwrote instead of adding, or lost a block that raised, is caught."""
    readings = iter([10.0, 10.5, 20.0, 20.25])
    monkeypatch.setattr(trainer.time, "perf_counter", lambda: next(readings))
    timing = {"other_seconds": 1.0}
    with timed(timing, "x_seconds"):
        pass
    assert timing == {"other_seconds": 1.0, "x_seconds": 0.5}
    with pytest.raises(ValueError):
        with timed(timing, "x_seconds"):
            raise ValueError
    assert timing == {"other_seconds": 1.0, "x_seconds": 0.75}


def _dataset(value: int) -> dict:
    arrays = {}
    for split, n in (("train", 4), ("val", 2), ("test", 2)):
        arrays[f"x_{split}"] = np.full((n, 28, 28), value, np.uint8)
        arrays[f"y_{split}"] = np.arange(n, dtype=np.int64)
    return arrays


def test_dataset_is_read_once_until_the_file_changes(tmp_path):
    path = tmp_path / "d.npz"
    save_arrays(path, _dataset(1))
    first = cached_dataset(DataFiles(str(path)))
    assert cached_dataset(DataFiles(str(path))) is first
    save_arrays(path, _dataset(2))
    os.utime(path, ns=(1, 1))  # a different mtime even on a coarse clock
    again = cached_dataset(DataFiles(str(path)))
    assert again is not first and int(again["x_train"][0, 0, 0]) == 2
