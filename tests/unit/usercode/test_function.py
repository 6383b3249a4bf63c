"""The user's function: where its target points, and the run's process setup."""

from pathlib import Path

from snakesweep.usercode.function import RunSetup, parse_target


def test_a_function_target():
    folder, module, name = parse_target("examples/x/train.py:main")
    assert (Path(folder).name, module, name) == ("x", "train", "main")
    assert parse_target("pkg.mod:train") == (None, "pkg.mod", "train")


def test_a_runs_setup_is_made_absolute_before_its_process_changes_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    setup = RunSetup({"A": "1"}, "run/files", "run/stdout.log", "run/stderr.log", 7, 2)
    absolute = setup.absolute()
    assert (absolute.cwd, absolute.stdout, absolute.stderr) == (
        str(tmp_path / "run/files"),
        str(tmp_path / "run/stdout.log"),
        str(tmp_path / "run/stderr.log"),
    )
    assert (absolute.environ, absolute.seed, absolute.threads) == ({"A": "1"}, 7, 2)
