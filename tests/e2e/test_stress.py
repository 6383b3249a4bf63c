"""16 agent processes on one store, with a fast fake trainer: every config handed out exactly
once, none lost, the store consistent. The controller's claim latency is reported."""

import json
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from snakesweep.record.events import Kind, kind_of
from snakesweep.record.state import fold
from snakesweep.record.store import EventLog

pytestmark = pytest.mark.slow  # starts snakemake or many processes: not in `make test-fast`

FAKE_AGENT = Path(__file__).parents[1] / "fake_agent.py"
AGENTS = 16

GRID_200 = {
    "method": "grid",
    "metric": {"name": "val_loss", "goal": "minimize"},
    "parameters": {
        "learning_rate": {"values": [0.0001 * (i + 1) for i in range(20)]},
        "batch_size": {"values": [16, 32, 48, 64, 80, 96, 112, 128, 144, 160]},
    },
}
RANDOM_200 = {
    "method": "random",
    "run_cap": 200,
    "metric": {"name": "val_loss", "goal": "minimize"},
    "parameters": {
        "learning_rate": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
        "dropout": {"min": 0.0, "max": 0.5},
    },
}


@pytest.mark.parametrize("sweep", [GRID_200, RANDOM_200], ids=["grid-200", "random-run_cap-200"])
def test_sixteen_agents_hand_out_200_configs_exactly_once(tmp_path, sweep, request, measurement):
    store = tmp_path / "store.log"
    (tmp_path / "sweep.json").write_text(json.dumps({"config": sweep, "seed": 0}))
    agents = [
        subprocess.Popen(
            [
                sys.executable,
                str(FAKE_AGENT),
                str(store),
                str(tmp_path / "sweep.json"),
                f"a{i}",
                "1000",
                "0",
                "30",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(AGENTS)
    ]
    outputs = [agent.communicate(timeout=600) for agent in agents]
    assert all(agent.returncode == 0 for agent in agents), [err[-2000:] for _, err in outputs]
    summaries = [json.loads(out) for out, _ in outputs]

    events = EventLog(store).read()
    runs = fold(events)
    assert len(runs) == 200
    assert {r.state for r in runs.values()} == {"finished"}
    configs = Counter(json.dumps(r.config, sort_keys=True) for r in runs.values())
    assert max(configs.values()) == 1  # no config handed out twice
    assert sorted(r.index for r in runs.values()) == list(range(200))
    claims = Counter(e["run"] for e in events if kind_of(e) == Kind.CLAIM)
    finishes = Counter(e["run"] for e in events if kind_of(e) == Kind.FINISH)
    assert set(claims.values()) == {1} and set(finishes.values()) == {1}
    assert sum(len(s["runs"]) for s in summaries) == 200
    if sweep["method"] == "grid":
        grid = {
            (lr, bs)
            for lr in sweep["parameters"]["learning_rate"]["values"]
            for bs in sweep["parameters"]["batch_size"]["values"]
        }
        assert {(r.config["learning_rate"], r.config["batch_size"]) for r in runs.values()} == grid

    latencies = sorted(x for s in summaries for x in s["claim_seconds"])
    median = statistics.median(latencies)
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    line = (
        f"{request.node.callspec.id}: {AGENTS} agents, {len(latencies)} claims, "
        f"suggestion latency median {median * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"max {latencies[-1] * 1000:.1f} ms"
    )
    measurement(line)
