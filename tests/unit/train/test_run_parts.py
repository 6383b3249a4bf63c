"""The pieces execute_run and train are made of, each on plain data."""

import os

import numpy as np
import torch

from snakesweep.data.arrays import save_arrays
from snakesweep.train.run import cached_dataset, timed
from snakesweep.train.trainer import divergence


def test_divergence_names_the_first_bad_step():
    assert divergence(torch.tensor([1.0, 2.0]), epoch=1, steps_before=0) is None
    losses = torch.tensor([1.0, float("inf"), float("nan")])
    assert divergence(losses, epoch=3, steps_before=10) == "loss became inf at epoch 3 step 12"
    assert divergence(torch.tensor([float("nan")]), epoch=1, steps_before=0) == "loss became nan at epoch 1 step 1"


def test_timed_adds_up_and_survives_errors():
    timing = {}
    with timed(timing, "x_seconds"):
        pass
    first = timing["x_seconds"]
    try:
        with timed(timing, "x_seconds"):
            raise ValueError
    except ValueError:
        pass
    assert timing["x_seconds"] >= first >= 0


def _dataset(value: int) -> dict:
    arrays = {}
    for split, n in (("train", 4), ("val", 2), ("test", 2)):
        arrays[f"x_{split}"] = np.full((n, 28, 28), value, np.uint8)
        arrays[f"y_{split}"] = np.arange(n, dtype=np.int64)
    return arrays


def test_dataset_is_read_once_until_the_file_changes(tmp_path):
    path = tmp_path / "d.npz"
    save_arrays(path, _dataset(1))
    first = cached_dataset(path, None)
    assert cached_dataset(path, None) is first
    save_arrays(path, _dataset(2))
    os.utime(path, ns=(1, 1))  # a different mtime even on a coarse clock
    again = cached_dataset(path, None)
    assert again is not first and int(again["x_train"][0, 0, 0]) == 2
