"""The W&B API key never lands in an output, and sweep values never become paths."""

import re

import pytest
from workflow_helpers import copy_workflow, run_pipeline, tiny_config

pytestmark = pytest.mark.slow

ENV_KEY = "local-" + "e" * 40
NETRC_KEY = "local-" + "d" * 40
ESCAPING_SWEEP = """
method: grid
metric: {name: val_accuracy, goal: maximize}
parameters:
  optimizer: {values: ["../../escaped", adam]}
"""


def test_planted_api_key_appears_in_no_output_and_values_stay_out_of_paths(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".netrc").write_text(f"machine api.wandb.ai\n  login user\n  password {NETRC_KEY}\n")
    (home / ".netrc").chmod(0o600)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("WANDB_API_KEY", ENV_KEY)
    work = copy_workflow(tmp_path / "w")
    before = {p for p in tmp_path.rglob("*")}
    run_pipeline(work, tiny_config(work, agents=1, sweep=ESCAPING_SWEEP))

    scanned = 0
    for path in [*work.rglob("*"), *home.rglob("*")]:  # outputs, logs, and the libraries' caches
        if path.is_file() and not path.is_symlink() and path.name != ".netrc":
            data = path.read_bytes()
            assert ENV_KEY.encode() not in data and NETRC_KEY.encode() not in data, path
            scanned += 1
    assert scanned > 50

    created = {p for p in tmp_path.rglob("*")} - before
    allowed = ("results", "resources", ".snakemake", "configs", "test-config.yaml")
    in_work = [p for p in created if work in p.parents]
    outside = [p for p in created if work not in p.parents and home not in p.parents]
    assert not outside, outside  # nothing beside the workflow (HOME holds the libraries' caches)
    assert all(p.relative_to(work).parts[0] in allowed for p in in_work)
    assert not any("escaped" in p.name for p in created)
    run_dirs = [p.name for p in (work / "results/runs").iterdir()]
    assert run_dirs and all(re.fullmatch(r"\d{4}-[0-9a-f]{8}", name) for name in run_dirs)
    leaderboard = (work / "results/leaderboard.csv").read_text().splitlines()
    assert len(leaderboard) == 3  # header, the adam run, and the refused one
    assert "optimizer: '../../escaped' is not one of ['adam', 'sgd', 'rmsprop']" in leaderboard[2]
