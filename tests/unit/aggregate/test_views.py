"""The sweep views and parameter importance, on synthetic sweeps whose answer is known."""

import csv
import math
import random
import struct

import pytest

from snakesweep.aggregate.importance import parameter_importance, write_importance
from snakesweep.aggregate.views import write_views


def _row(index, config, value, state="finished"):
    return {
        "run_id": f"{index:04d}-x",
        "index": index,
        "state": state,
        "config": config,
        "summary": {} if value is None else {"val_loss": value},
    }


def bayes_like(runs=12, seed=0):
    """val_loss falls with log10(learning_rate) and is worse with sgd; dropout does nothing."""
    rng = random.Random(seed)
    rows = []
    for i in range(runs):
        config = {
            "learning_rate": 10 ** rng.uniform(-4, -1.5),
            "optimizer": rng.choice(["adam", "sgd"]),
            "dropout": rng.uniform(0, 0.5),
        }
        loss = -0.3 * math.log10(config["learning_rate"]) + (
            0.4 if config["optimizer"] == "sgd" else 0
        )
        rows.append(_row(i, config, loss + rng.gauss(0, 0.01)))
    rows.append(
        _row(
            runs, {"learning_rate": 0.01, "optimizer": "adam", "dropout": 0.1}, None, state="failed"
        )
    )
    return rows


def png_chunks(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        chunks.append(data[at + 4 : at + 8].decode())
        at += 12 + length
    return chunks


def test_importance_finds_the_parameters_that_matter_and_the_sign_of_their_effect():
    table = parameter_importance(
        bayes_like(40), "val_loss", ["dropout", "learning_rate", "optimizer"], seed=0
    )
    by_name = {entry["parameter"]: entry for entry in table}
    assert set(by_name) == {"dropout", "learning_rate", "optimizer=adam", "optimizer=sgd"}
    assert math.isclose(sum(e["importance"] for e in table), 1.0)
    assert by_name["dropout"]["importance"] < min(
        by_name["learning_rate"]["importance"], by_name["optimizer=sgd"]["importance"]
    )
    assert by_name["learning_rate"]["correlation"] < -0.5  # a higher rate, a lower loss
    assert by_name["optimizer=sgd"]["correlation"] > 0.5
    assert table == parameter_importance(
        bayes_like(40), "val_loss", ["dropout", "learning_rate", "optimizer"], seed=0
    )


def test_importance_is_empty_not_made_up_when_it_is_undefined(tmp_path):
    one = [_row(0, {"learning_rate": 0.1}, 0.5)]
    assert parameter_importance(one, "val_loss", ["learning_rate"], seed=0) == [
        {"parameter": "learning_rate", "importance": None, "correlation": None}
    ]
    write_importance(
        tmp_path / "i.csv", parameter_importance(one, "val_loss", ["learning_rate"], seed=0)
    )
    assert list(csv.reader((tmp_path / "i.csv").open())) == [
        ["parameter", "importance", "correlation"],
        ["learning_rate", "", ""],
    ]


@pytest.mark.parametrize(
    ("rows", "parameters"),
    [
        (bayes_like(12), ["dropout", "learning_rate", "optimizer"]),
        # one swept parameter and 200 runs: the extremes the views must stay readable at
        (
            [
                _row(i, {"batch_size": 2 ** (4 + i % 6)}, 1 / (1 + i % 6) + i * 1e-4)
                for i in range(200)
            ],
            ["batch_size"],
        ),
        ([_row(0, {"learning_rate": 0.1}, None, state="failed")], ["learning_rate"]),
    ],
    ids=["bayes-12", "one-parameter-200-runs", "nothing-finished"],
)
def test_views_are_plain_reproducible_pngs(tmp_path, rows, parameters):
    table = parameter_importance(rows, "val_loss", parameters, seed=0)
    first = write_views(rows, "val_loss", "minimize", parameters, table, tmp_path / "a")
    again = write_views(rows, "val_loss", "minimize", parameters, table, tmp_path / "b")
    assert [p.name for p in first] == ["parallel_coordinates.png", "importance.png", "progress.png"]
    for a, b in zip(first, again, strict=False):
        # no date and no text chunk (matplotlib's Software line is dropped): only the image
        assert not {"tEXt", "iTXt", "zTXt", "tIME"} & set(png_chunks(a)), png_chunks(a)
        assert a.read_bytes() == b.read_bytes()
