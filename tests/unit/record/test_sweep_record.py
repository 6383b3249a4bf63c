"""The sweep record (sweep.json): read back as written, its bytes canonical, the objective and
the ranking kept, and one clear line for a record that is missing or cannot be read."""

import json

import pytest

from snakesweep.atomic import write_json
from snakesweep.errors import UserError
from snakesweep.record.sweep_record import (
    CONVNET,
    FROM_OBJECTIVE,
    FROM_SWEEP,
    PROGRAM,
    Objective,
    Ranking,
    SweepRecord,
)

GRID = {"method": "grid", "parameters": {"learning_rate": {"values": [0.1]}}}

# A ConvNet sweep's record as registration has always written it.
CONVNET_RECORD = {
    "config": {**GRID, "metric": {"goal": "maximize", "name": "val_accuracy"}},
    "controller": "local",
    "entity": None,
    "file": "configs/sweeps/grid.yaml",
    "hash": "751c3a647a2eca099ce47bb876df626d244d0bc60b6b36df36decb5b07f95dcb",
    "name": "grid-751c3a64",
    "objective": {"kind": "convnet"},
    "parallelism": 4,
    "project": "snakesweep",
    "ranking": {"goal": "maximize", "name": "val_accuracy", "source": "sweep"},
    "seed": 0,
    "store": "results/sweep/stores/local-751c3a647a2e.log",
    "sweep_id": "local-751c3a647a2e",
    "train": {"epochs": 5, "kernels": [16, 32]},
}

# A program's sweep, registered with the W&B server as its controller.
PROGRAM_RECORD = {
    **CONVNET_RECORD,
    "config": {**GRID, "program": "train.py"},
    "controller": "wandb",
    "entity": "team",
    "name": "sw123",
    "objective": {
        "command": ["${env}", "python", "${program}", "${args}"],
        "kind": "program",
        "program": "exp/train.py",
        "run_timeout": 60,
    },
    "path": "team/snakesweep/sw123",
    "ranking": None,
    "sweep_id": "sw123",
    "train": {},
    "url": "https://wandb.ai/team/snakesweep/sweeps/sw123",
}


@pytest.mark.parametrize("data", [CONVNET_RECORD, PROGRAM_RECORD], ids=["convnet", "program"])
def test_a_record_reads_back_as_written_byte_for_byte(tmp_path, data):
    written = tmp_path / "written.json"
    write_json(written, data)
    record = SweepRecord.load(written)
    assert record.to_json() == data
    record.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == written.read_bytes()
    assert SweepRecord.from_json(json.loads(written.read_text())) == record


def test_the_objective_and_the_ranking_are_kept():
    convnet = SweepRecord.from_json(CONVNET_RECORD)
    assert convnet.objective == Objective(CONVNET) and not convnet.objective.user_code
    assert convnet.ranking == Ranking("val_accuracy", "maximize", FROM_SWEEP)
    assert convnet.method == "grid" and convnet.path is None and convnet.url is None
    program = SweepRecord.from_json(PROGRAM_RECORD)
    assert program.objective == Objective(
        PROGRAM, "exp/train.py", ["${env}", "python", "${program}", "${args}"], run_timeout=60
    )
    assert program.objective.user_code and program.ranking is None
    assert program.path == "team/snakesweep/sw123"


def test_a_ranking_says_where_its_metric_came_from():
    assert Ranking("val_loss", "minimize", FROM_SWEEP).describe() == "val_loss (minimize)"
    assert Ranking("val_accuracy", "maximize", FROM_OBJECTIVE).describe() == (
        "val_accuracy (maximize; the sweep file names no metric, so the objective's own)"
    )


def test_a_missing_or_unreadable_record_is_one_clear_line(tmp_path):
    with pytest.raises(UserError, match=r"sweep.json: no sweep here yet"):
        SweepRecord.load(tmp_path / "sweep.json")
    (tmp_path / "sweep.json").write_text("{not json")
    with pytest.raises(UserError, match=r"sweep.json: cannot read the sweep record"):
        SweepRecord.load(tmp_path / "sweep.json")
    write_json(tmp_path / "sweep.json", {"sweep_id": "local-abc"})
    with pytest.raises(UserError, match=r"sweep.json: cannot read the sweep record"):
        SweepRecord.load(tmp_path / "sweep.json")
