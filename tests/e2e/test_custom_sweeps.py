"""`method: custom` with Optuna, end to end: the two Optuna examples, TPE with Hyperband over a
conditional define-by-run space, and NSGA-II on validation loss against model size with the
sampler left unseeded in the user's factory (two cases in one sweep, to keep the suite short),
each give a byte-identical leaderboard with 1 and with 3 agents and after an agent is SIGKILLed
mid-sweep and the pipeline run again, and `snakesweep verify` (which replays every suggestion
and every pruning decision) exits 0."""

import json
import shutil
import subprocess
import sys
from collections import Counter

import pytest
import yaml
from test_faults import _events
from test_user_code_reproducibility import _sigkill_an_agent_mid_sweep, _verify
from workflow_helpers import REPO, copy_workflow, run_pipeline, tiny_config

from snakesweep import paths
from snakesweep.record.events import Kind, kind_of
from snakesweep.record.state import fold
from snakesweep.record.store import decode_all, encode

pytestmark = pytest.mark.slow

UNSEEDED_NSGA2 = """
import optuna

def study(sweep):
    return optuna.create_study(
        directions=["minimize", "minimize"],
        sampler=optuna.samplers.NSGAIISampler(population_size=4),
    )
"""
CASES = {
    "tpe-hyperband-conditional": ("optuna-conditional-function", None),
    "unseeded-nsga2-two-objectives": ("optuna-pareto-function", UNSEEDED_NSGA2),
}


def _workdir(tmp_path, label: str, example: str, factory: str | None):
    work = copy_workflow(tmp_path / label)
    shutil.copytree(REPO / "examples" / example, work / "usercode")
    sweep = yaml.safe_load((work / "usercode" / "sweep.yaml").read_text())
    sweep["scheduler"]["source"] = "usercode/study.py"
    sweep["run_cap"] = 6
    if factory:
        (work / "usercode" / "unseeded.py").write_text(factory)
        sweep["scheduler"].update(source="usercode/unseeded.py", optimizer="study")
    (work / "usercode" / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    config = tiny_config(work, agents=3 if label == "three" else 1)
    settings = yaml.safe_load(config.read_text())
    settings["sweep"].update(
        file="usercode/sweep.yaml", parallelism=2, function="usercode/train.py:train"
    )
    config.write_text(yaml.safe_dump(settings))
    return work, config


@pytest.mark.parametrize("case", sorted(CASES))
def test_custom_sweeps_are_the_same_with_1_and_3_agents_and_after_a_killed_agent(tmp_path, case):
    example, factory = CASES[case]
    boards, works = {}, {}
    for label in ("one", "three", "killed"):
        work, config = _workdir(tmp_path, label, example, factory)
        if label == "killed":
            _sigkill_an_agent_mid_sweep(work, config)
        else:
            run_pipeline(work, config, "--cores", "3" if label == "three" else "2")
        boards[label], works[label] = (work / paths.LEADERBOARD).read_bytes(), work
        out = _verify(work)
        assert "verified" in out
        runs = fold(_events(work))
        assert len(runs) == 6
    assert boards["one"] == boards["three"] == boards["killed"], boards
    states = Counter(r.state for r in runs.values())
    if case == "tpe-hyperband-conditional":
        assert states["stopped"] >= 1, states  # Hyperband stopped a run
        assert any("momentum" in r.config for r in runs.values())
        assert any("momentum" not in r.config for r in runs.values())
    if case == "unseeded-nsga2-two-objectives":
        front = json.loads((work / paths.PARETO_FRONT).read_text())["front"]
        assert front and b"pareto_front" in boards["one"]
        assert (work / paths.PARETO_PLOT).exists()

    if case == "tpe-hyperband-conditional":
        _tampered_decisions_are_found(works["one"])


def _rewrite(work, change) -> str:
    """Rewrite the store's events through `change` (valid checksums); the run it names."""
    (store,) = (work / paths.SWEEP_STORES).glob("*.log")
    events = [e for line in store.read_bytes().splitlines(keepends=True) for e in decode_all(line)]
    events, victim = change(events)
    store.write_bytes(b"".join(encode(e) for e in events))
    return victim


def _fails_naming(work, run_id: str, words: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "snakesweep.cli", "verify", "--results", str(work / "results")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode != 0, result.stdout
    message = result.stderr.strip().splitlines()[-1]
    assert f"run {run_id}" in message and words in message, message


def _tampered_decisions_are_found(work) -> None:
    """verify replays Optuna's suggestions and its pruner's decisions: an edited suggestion,
    and a pruning decision taken out, are each found and named."""
    (store,) = (work / paths.SWEEP_STORES).glob("*.log")
    original = store.read_bytes()

    def other_config(events):
        claim = next(e for e in events if kind_of(e) == Kind.CLAIM and e["index"] == 2)
        claim["config"] = {**claim["config"], "learning_rate": 0.05}
        return events, claim["run"]

    _fails_naming(work, _rewrite(work, other_config), "suggestion 2")
    store.write_bytes(original)

    def no_stop(events):
        stop = next(e for e in events if kind_of(e) == Kind.STOP)
        return [e for e in events if e is not stop], stop["run"]

    _fails_naming(work, _rewrite(work, no_stop), "go on")
