"""Which objective a sweep runs: the sweep file's program, the config's function, or the ConvNet;
each mistake named with its file and field."""

import pytest

from snakesweep.errors import UserError
from snakesweep.objectives.choice import CONVNET, FUNCTION, PROGRAM, objective_for, objective_kind

GRID = {"method": "grid", "parameters": {"learning_rate": {"values": [0.1]}}}


def _sweep_file(tmp_path, text="method: grid\nparameters: {learning_rate: {values: [0.1]}}\n"):
    path = tmp_path / "exp" / "sweep.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def test_a_program_is_found_beside_the_sweep_file(tmp_path):
    sweep_file = _sweep_file(
        tmp_path, "program: train.py\nmethod: grid\nparameters: {lr: {values: [1]}}\n"
    )
    (sweep_file.parent / "train.py").write_text("print('hi')\n")
    chosen = objective_for({**GRID, "program": "train.py"}, sweep_file, None, 60, "config.yaml")
    assert chosen == {
        "kind": PROGRAM,
        "program": str(sweep_file.parent / "train.py"),
        "command": None,
        "run_timeout": 60,
    }
    assert objective_kind(sweep_file, None) == PROGRAM


def test_a_missing_program_names_the_sweep_file_and_the_field(tmp_path):
    sweep_file = _sweep_file(tmp_path)
    with pytest.raises(UserError, match=rf"^{sweep_file}: program: .*train.py not found"):
        objective_for({**GRID, "program": "train.py"}, sweep_file, None, None, "config.yaml")


def test_a_command_without_a_program_is_a_program_run_unless_it_needs_one(tmp_path):
    sweep_file = _sweep_file(tmp_path)
    chosen = objective_for(
        {**GRID, "command": ["python", "-c", "pass"]}, sweep_file, None, None, "c.yaml"
    )
    assert chosen["kind"] == PROGRAM and chosen["program"] is None
    with pytest.raises(UserError, match=r"command: uses \$\{program\}"):
        objective_for(
            {**GRID, "command": ["${env}", "${program}"]}, sweep_file, None, None, "c.yaml"
        )


def test_a_function_is_named_in_the_config_and_checked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.py").write_text("def train():\n    pass\n")
    sweep_file = _sweep_file(tmp_path)
    assert objective_for(GRID, sweep_file, "train.py:train", None, "c.yaml")["kind"] == FUNCTION
    assert (
        objective_for(GRID, sweep_file, "my_pkg.train:main", None, "c.yaml")["function"]
        == "my_pkg.train:main"
    )
    assert objective_kind(sweep_file, "train.py:train") == FUNCTION
    for bad, message in (
        ("train.py", "expected path/to/train.py:name"),
        ("missing.py:train", "missing.py not found"),
        ("train.py:not-a-name", "expected"),
    ):
        with pytest.raises(UserError, match=rf"^c.yaml: sweep.function: .*{message}"):
            objective_for(GRID, sweep_file, bad, None, "c.yaml")
    with pytest.raises(
        UserError, match="^c.yaml: sweep.function: the sweep file .* names a program too"
    ):
        objective_for({**GRID, "program": "train.py"}, sweep_file, "train.py:train", None, "c.yaml")


def test_neither_is_the_convnet(tmp_path):
    assert objective_for(GRID, _sweep_file(tmp_path), None, None, "c.yaml") == {"kind": CONVNET}
    assert objective_kind(tmp_path / "missing.yaml", None) == CONVNET  # registration reports it
