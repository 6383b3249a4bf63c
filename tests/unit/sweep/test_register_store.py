"""Registration's check of the file store's filesystem: a filesystem whose lock does not hold
across nodes stops the sweep with one line naming `sweep.store`, before anything is written,
unless `sweep.single_node` says every agent runs on one node."""

from __future__ import annotations

import pytest

from snakesweep import paths
from snakesweep.errors import UserError
from snakesweep.record import fs_check
from snakesweep.settings import Config
from snakesweep.sweep import register


@pytest.fixture
def on_gpfs(tmp_path, monkeypatch):
    """This test's working folder, as if every mount were GPFS."""
    table = tmp_path / "mountinfo"
    table.write_text("22 1 0:60 / / rw,relatime shared:1 - gpfs gpfs0 rw\n")
    monkeypatch.setattr(fs_check, "MOUNTINFO", str(table))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_file_store_on_gpfs_is_refused_naming_the_setting(on_gpfs):
    settings = Config({}, ["configs/config.yaml"]).register()
    with pytest.raises(UserError) as err:
        register._check_filesystem(settings)
    message = str(err.value)
    assert "sweep.store" in message and "GPFS" in message and "sweep.single_node" in message
    assert "\n" not in message
    assert not (on_gpfs / paths.SWEEP_DIR).exists()


def test_the_check_passes_on_a_local_disk(tmp_path, monkeypatch):
    table = tmp_path / "mountinfo"
    table.write_text("22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n")
    monkeypatch.setattr(fs_check, "MOUNTINFO", str(table))
    monkeypatch.chdir(tmp_path)
    register._check_filesystem(Config({}).register())  # no error
