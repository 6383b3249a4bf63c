"""The W&B cloud controller, tested at the W&B API boundary.

The W&B server cannot be reached here, so `wandb.sweep`, `wandb.agent` and `wandb.Api` are
replaced by stand-ins that keep their contracts: the stand-in agent does what the real one does
for each suggestion (writes the config YAML with wandb's own helper, sets WANDB_RUN_ID and
WANDB_SWEEP_PARAM_PATH, calls the function). Everything on our side, including the runs'
real offline `wandb.init`, runs for real.
"""

import dataclasses
import os
from pathlib import Path

import pytest
import wandb
import yaml
from controller_helpers import make_controller
from wandb.apis import public as wandb_public
from wandb.sdk.lib import config_util

from snakesweep import objective, paths
from snakesweep.agent.wandb_agent import run_wandb_agent
from snakesweep.aggregate.aggregate import Outputs, aggregate
from snakesweep.atomic import write_json
from snakesweep.convnet.objective import make_train_one
from snakesweep.data.arrays import array_sha256, load_arrays
from snakesweep.data.dataset import DataFiles
from snakesweep.errors import UserError
from snakesweep.record.state import fold
from snakesweep.record.sweep_record import SweepRecord
from snakesweep.settings import Config

PLANTED_KEY = "local-" + "f" * 40
SWEEP = """
method: grid
metric: {name: val_accuracy, goal: maximize}
parameters:
  learning_rate: {values: [0.001, 0.003]}
"""
CONFIG = {
    "sweep": {"file": "sweep.yaml", "controller": "wandb", "project": "proj"},
    "agents": {"device": "cpu", "threads": 1},
    "wandb": {"mode": "online"},
    "train": {"epochs": 1},
}
DATA = DataFiles("data/mnist.npz", "data/manifest.json")


@pytest.fixture
def workdir(tmp_path, monkeypatch, tiny_npz):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc of the machine's user
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    arrays = load_arrays(tiny_npz)
    (tmp_path / "data").mkdir()
    (tmp_path / DATA.dataset).write_bytes(Path(tiny_npz).read_bytes())
    write_json(
        tmp_path / DATA.manifest, {"sha256": {k: array_sha256(v) for k, v in arrays.items()}}
    )
    return tmp_path


def _config(mode="online") -> Config:
    """The workdir's config.yaml, with `wandb.mode` as given."""
    return Config({**CONFIG, "wandb": {"mode": mode}}, ["config.yaml"])


def _register(mode="online") -> SweepRecord:
    return objective.register(_config(mode).register(), DATA, paths.SWEEP, paths.RETRIES)


class FakeApi:
    """`wandb.Api` as far as the W&B server goes: `sweep()` returns W&B's real `Sweep` object,
    holding the config the server would (what `wandb.sweep` was given), so that W&B's own
    `best_run` decides how to order the runs; only its query to the server is a stand-in."""

    default_entity = "team"
    registered: dict = {}
    queries: list = []

    def sweep(self, path):
        assert path == "team/proj/sw123"
        return wandb_public.Sweep(
            None, "team", "proj", "sw123", attrs={"config": yaml.safe_dump(self.registered)}
        )


def _runs_query(service_api, entity, project, order, filters, per_page):
    FakeApi.queries.append({"order": order, "filters": filters})
    return [
        type(
            "Run",
            (),
            {"id": "wb1", "name": "wb-run-1", "url": "https://wandb.ai/team/proj/runs/wb1"},
        )()
    ]


def test_offline_mode_is_refused_with_the_reason(workdir):
    with pytest.raises(
        UserError,
        match="config.yaml: sweep.controller is wandb but wandb.mode is offline: "
        "W&B has no offline sweeps",
    ):
        _register(mode="offline")


def test_missing_api_key_is_refused_before_calling_wandb(workdir, monkeypatch):
    monkeypatch.setattr(wandb, "sweep", lambda **kw: pytest.fail("wandb.sweep must not be called"))
    with pytest.raises(UserError, match="no W&B API key was found"):
        _register()
    assert not (workdir / paths.SWEEP).exists()


def test_register_agents_and_aggregate_through_the_wandb_api(workdir, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", PLANTED_KEY)
    calls = {}

    def fake_sweep(sweep, project, entity):
        calls["sweep"] = (sweep, project, entity)
        FakeApi.registered = sweep
        return "sw123"

    monkeypatch.setattr(wandb, "sweep", fake_sweep)
    monkeypatch.setattr(wandb, "Api", FakeApi)
    monkeypatch.setattr(wandb_public, "Runs", _runs_query)
    monkeypatch.setattr(FakeApi, "queries", [])
    record = _register()
    assert calls["sweep"] == (
        {
            "method": "grid",
            "metric": {"name": "val_accuracy", "goal": "maximize"},
            "parameters": {"learning_rate": {"values": [0.001, 0.003]}},
        },
        "proj",
        None,
    )
    assert (
        record.path == "team/proj/sw123" and record.url == "https://wandb.ai/team/proj/sweeps/sw123"
    )

    def fake_agent(sweep_id, function, count, project, entity):
        calls["agent"] = (sweep_id, count, project, entity)
        for i, lr in enumerate([0.001, 0.003][:count]):
            run_id = f"wbrun{i}"
            path = (
                Path(os.environ.get("WANDB_DIR", "."))
                / "wandb"
                / f"sweep-{sweep_id}"
                / f"config-{run_id}.yaml"
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            config_util.save_config_file_from_dict(str(path), {"learning_rate": {"value": lr}})
            os.environ[wandb.env.RUN_ID], os.environ[wandb.env.SWEEP_PARAM_PATH] = run_id, str(path)
            wandb.teardown()  # the real agent resets wandb's settings before each run, too
            try:
                function()
            finally:
                os.environ.pop(wandb.env.RUN_ID)
                os.environ.pop(wandb.env.SWEEP_PARAM_PATH)
        wandb.teardown()  # as when the real agent's process ends: later runs start clean

    monkeypatch.setattr(wandb, "agent", fake_agent)
    sweep = SweepRecord.load(paths.SWEEP)
    controller = make_controller(sweep.store, sweep.config, sweep.seed)
    # the runs themselves log offline: there is no server to talk to here
    settings = dataclasses.replace(_config().agent(), wandb_mode="offline")
    train_one = make_train_one(sweep, settings, DATA, "cpu")
    summary = run_wandb_agent(sweep, controller, "0", 5, train_one)
    assert calls["agent"] == ("sw123", 5, "proj", "team")
    assert [r["wandb_run_id"] for r in summary["runs"]] == ["wbrun0", "wbrun1"]

    runs = fold(controller.log.read())
    assert [(r.config, r.state) for r in runs.values()] == [
        ({"learning_rate": 0.001}, "finished"),
        ({"learning_rate": 0.003}, "finished"),
    ]
    offline_dirs = sorted(p.name for p in Path("results/wandb/wandb").glob("offline-run-*"))
    assert [d.rsplit("-", 1)[1] for d in offline_dirs] == [
        "wbrun0",
        "wbrun1",
    ]  # wandb.init joined the agent's run

    outputs = Outputs(
        best=paths.BEST_RUN,
        card=paths.MODEL_CARD,
        leaderboard=paths.LEADERBOARD,
        plots=paths.PLOTS_DIR,
        importance=paths.IMPORTANCE,
        model=paths.BEST_MODEL,
    )
    best = aggregate(paths.SWEEP, DATA, paths.RUNS_DIR, outputs)
    assert best["wandb_best_run"]["id"] == "wb1"
    # W&B's own Sweep.best_run, given the registered config, asks for the highest val_accuracy
    assert FakeApi.queries == [
        {"order": "-summary_metrics.val_accuracy", "filters": {"$and": [{"sweep": "sw123"}]}}
    ]

    for path in Path("results").rglob("*"):
        if path.is_file():
            assert PLANTED_KEY.encode() not in path.read_bytes(), path
