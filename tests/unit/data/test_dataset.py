"""The data stage's output as every reader gets it: a job's inputs as `DataFiles` (or none, for
an objective without a data stage), and the arrays checked against their manifest."""

from types import SimpleNamespace

import numpy as np
import pytest

from snakesweep.atomic import write_json
from snakesweep.data.arrays import array_sha256, load_arrays, save_arrays
from snakesweep.data.dataset import KEYS, DataFiles
from snakesweep.errors import UserError


def test_a_jobs_inputs_name_the_data_or_there_is_none():
    inputs = SimpleNamespace(dataset="results/data/mnist.npz", manifest="results/data/m.json")
    assert DataFiles.of(inputs) == DataFiles("results/data/mnist.npz", "results/data/m.json")
    assert DataFiles.of(SimpleNamespace(sweep="results/sweep/sweep.json")) is None


@pytest.fixture
def data(tmp_path, tiny_npz):
    """The tiny dataset and a manifest of its arrays' sha256."""
    files = DataFiles(str(tmp_path / "d.npz"), str(tmp_path / "manifest.json"))
    arrays = load_arrays(tiny_npz)
    save_arrays(files.dataset, arrays)
    write_json(files.manifest, {"sha256": {k: array_sha256(v) for k, v in arrays.items()}})
    return files


def test_the_arrays_are_loaded_once_checked(data, tiny):
    loaded = data.load()
    assert set(loaded) == set(KEYS)
    assert all(np.array_equal(loaded[key], tiny[key]) for key in KEYS)
    assert DataFiles(data.dataset).load().keys() == loaded.keys()  # no manifest: unchecked


def test_a_changed_array_or_a_missing_one_is_named(data):
    arrays = load_arrays(data.dataset)
    arrays["y_val"] = arrays["y_val"].copy()
    arrays["y_val"][0] = (arrays["y_val"][0] + 1) % 10
    save_arrays(data.dataset, arrays)
    with pytest.raises(UserError, match=r"array y_val does not match the sha256 in .*manifest"):
        data.load()
    del arrays["x_test"]
    save_arrays(data.dataset, arrays)
    with pytest.raises(UserError, match=r"missing arrays \['x_test'\]"):
        data.load()
    with pytest.raises(UserError, match="cannot read the dataset"):
        DataFiles(data.dataset + ".missing").load()
