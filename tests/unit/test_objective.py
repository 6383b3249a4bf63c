"""Which objective a sweep runs: the sweep file's program, the config's function, or the ConvNet;
each mistake named with its file and field; whether it gets the data stage, and what
registration is told of it."""

import dataclasses

import pytest

from snakesweep.convnet.objective import DEFAULT_RANKING, resolved_defaults
from snakesweep.errors import UserError
from snakesweep.objective import (
    check_user_code_settings,
    convnet_checks,
    describe,
    needs_data,
    objective_for,
    objective_kind,
)
from snakesweep.record.sweep_record import CONVNET, FUNCTION, PROGRAM, Objective
from snakesweep.settings import Config

GRID = {"method": "grid", "parameters": {"learning_rate": {"values": [0.1]}}}


def _settings(sweep_file, function=None, run_timeout=None, config_file="c.yaml"):
    """Registration's settings for `sweep_file`, as if `config_file` set them."""
    sweep = {"file": str(sweep_file), "function": function, "run_timeout": run_timeout}
    settings = Config({"sweep": sweep}).register()
    return dataclasses.replace(settings, config_file=config_file)


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
    chosen = objective_for({**GRID, "program": "train.py"}, _settings(sweep_file, run_timeout=60))
    assert chosen == Objective(
        PROGRAM, program=str(sweep_file.parent / "train.py"), command=None, run_timeout=60
    )
    assert objective_kind(sweep_file, None) == PROGRAM


def test_a_missing_program_names_the_sweep_file_and_the_field(tmp_path):
    sweep_file = _sweep_file(tmp_path)
    with pytest.raises(UserError, match=rf"^{sweep_file}: program: .*train.py not found"):
        objective_for(
            {**GRID, "program": "train.py"}, _settings(sweep_file, config_file="config.yaml")
        )


def test_a_command_without_a_program_is_a_program_run_unless_it_needs_one(tmp_path):
    sweep_file = _sweep_file(tmp_path)
    chosen = objective_for({**GRID, "command": ["python", "-c", "pass"]}, _settings(sweep_file))
    assert chosen.kind == PROGRAM and chosen.program is None
    with pytest.raises(UserError, match=r"command: uses \$\{program\}"):
        objective_for({**GRID, "command": ["${env}", "${program}"]}, _settings(sweep_file))


def test_a_function_is_named_in_the_config_and_checked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.py").write_text("def train():\n    pass\n")
    sweep_file = _sweep_file(tmp_path)
    assert objective_for(GRID, _settings(sweep_file, "train.py:train")).kind == FUNCTION
    assert (
        objective_for(GRID, _settings(sweep_file, "my_pkg.train:main")).function
        == "my_pkg.train:main"
    )
    assert objective_kind(sweep_file, "train.py:train") == FUNCTION
    for bad, message in (
        ("train.py", "expected path/to/train.py:name"),
        ("missing.py:train", "missing.py not found"),
        ("train.py:not-a-name", "expected"),
    ):
        with pytest.raises(UserError, match=rf"^c.yaml: sweep.function: .*{message}"):
            objective_for(GRID, _settings(sweep_file, bad))
    with pytest.raises(
        UserError, match="^c.yaml: sweep.function: the sweep file .* names a program too"
    ):
        objective_for({**GRID, "program": "train.py"}, _settings(sweep_file, "train.py:train"))


def test_neither_is_the_convnet(tmp_path):
    assert objective_for(GRID, _settings(_sweep_file(tmp_path))) == Objective(CONVNET)
    assert objective_kind(tmp_path / "missing.yaml", None) == CONVNET  # registration reports it


def test_the_data_stage_runs_for_the_convnet_and_for_user_code_only_when_asked():
    assert needs_data(CONVNET, "auto") and needs_data(CONVNET, "always")
    for kind in (PROGRAM, FUNCTION):
        assert not needs_data(kind, "auto") and needs_data(kind, "always")


def test_user_code_needs_the_local_controller_and_a_wandb_run(tmp_path):
    settings = _settings(_sweep_file(tmp_path))
    check_user_code_settings(settings)  # local, offline: the defaults
    with pytest.raises(UserError, match=r"^c.yaml: sweep.controller: .* local controller only"):
        check_user_code_settings(dataclasses.replace(settings, controller="wandb"))
    with pytest.raises(UserError, match=r"^c.yaml: wandb.mode: .*wandb.mode: disabled turns off"):
        check_user_code_settings(dataclasses.replace(settings, wandb_mode="disabled"))


def test_what_registration_is_told_of_each_objective(tmp_path):
    sweep_file = _sweep_file(
        tmp_path, "program: train.py\nmethod: grid\nparameters: {lr: {values: [1]}}\n"
    )
    (sweep_file.parent / "train.py").write_text("print('hi')\n")
    settings = dataclasses.replace(_settings(sweep_file), train={"epochs": 2})
    program = describe({**GRID, "program": "train.py"}, settings)
    assert program.objective.kind == PROGRAM
    assert (program.checks, program.default_ranking, program.train) == (None, None, {})
    convnet = describe(GRID, settings)
    assert convnet.objective == Objective(CONVNET)
    assert convnet.checks == convnet_checks() and convnet.default_ranking == DEFAULT_RANKING
    assert convnet.train == resolved_defaults({"epochs": 2}, settings.train_source)
    with pytest.raises(UserError, match="disabled"):  # the user's code is checked here too
        describe(
            {**GRID, "program": "train.py"}, dataclasses.replace(settings, wandb_mode="disabled")
        )
