"""`snakesweep init`: what a user's own project folder gets, and that nothing is overwritten."""

import yaml
from workflow_helpers import INIT_EXAMPLE

from snakesweep import paths
from snakesweep.project import init_project


def test_an_empty_folder_gets_everything_and_the_example(tmp_path):
    done = init_project(tmp_path)
    assert done == [
        (name, "written")
        for name in (
            "Snakefile",
            "configs/config.yaml",
            "slurm/profile.yaml",
            "sweep.yaml",
            "train.py",
        )
    ]
    config = yaml.safe_load((tmp_path / "configs/config.yaml").read_text())
    assert config["sweep"]["file"] == "sweep.yaml"
    assert (
        (tmp_path / "configs/config.yaml")
        .read_text()
        .startswith(paths.DEFAULT_CONFIG.read_text()[:200])
    )  # comments kept
    assert "program: train.py" in (tmp_path / "sweep.yaml").read_text()
    for name in ("sweep.yaml", "train.py"):
        assert (tmp_path / name).read_text() == (INIT_EXAMPLE / name).read_text(), name
    snakefile = (tmp_path / "Snakefile").read_text()
    assert "module snakesweep:" in snakefile and "use rule * from snakesweep" in snakefile
    assert (tmp_path / "slurm/profile.yaml").read_text() == paths.SLURM_PROFILE.read_text()


def test_the_users_files_are_kept_and_nothing_is_overwritten(tmp_path):
    (tmp_path / "train.py").write_text("mine\n")
    (tmp_path / "sweep.yaml").write_text("program: train.py\n")
    (tmp_path / "Snakefile").write_text("my own\n")
    done = dict(init_project(tmp_path))
    assert done == {
        "Snakefile": "kept",
        "configs/config.yaml": "written",
        "slurm/profile.yaml": "written",
        "sweep.yaml": "kept",
        "train.py": "kept",
    }
    assert (tmp_path / "train.py").read_text() == "mine\n" and (
        tmp_path / "Snakefile"
    ).read_text() == "my own\n"
    assert set(dict(init_project(tmp_path)).values()) == {"kept"}  # a second time: nothing written


def test_what_ships_with_the_package_is_read_from_it():
    for path in (
        paths.WORKFLOW_SNAKEFILE,
        paths.RUN_SCHEMA,
        paths.CONFIG_SCHEMA,
        paths.DEFAULT_CONFIG,
        paths.SLURM_PROFILE,
        paths.EXAMPLE / "train.py",
    ):
        assert path.is_file() and path.is_relative_to(paths.PACKAGE), path
