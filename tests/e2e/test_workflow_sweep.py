"""The whole pipeline (data -> register -> N agents -> aggregate) by the real snakemake."""

import csv
import hashlib
import json

import pytest
from workflow_helpers import copy_workflow, run_pipeline, snakemake, tiny_config

from snakesweep import paths

pytestmark = pytest.mark.slow


def test_dry_run_shows_the_dag(tmp_path):
    work = copy_workflow(tmp_path / "w")
    result = snakemake(work, "-n", "--configfile", str(tiny_config(work, agents=3)))
    assert result.returncode == 0, result.stdout
    for rule, count in (
        ("download_mnist", 1),
        ("subsample", 1),
        ("register_sweep", 1),
        ("agent", 3),
        ("aggregate", 1),
    ):
        assert any(line.split() == [rule, str(count)] for line in result.stdout.splitlines()), (
            rule,
            result.stdout,
        )


def test_pipeline_publishes_a_verified_best_model(tiny_run):
    work, _, _ = tiny_run
    best = json.loads((work / "results/best/best_run.json").read_text())
    model = (work / "results/best/model.onnx").read_bytes()
    assert best["onnx_sha256"] == hashlib.sha256(model).hexdigest()
    assert best["test_accuracy_onnxruntime"] == best["test_accuracy_pytorch"] > 0.8
    assert best["metric"]["name"] == "val_accuracy" and best["metric"]["goal"] == "maximize"
    assert best["config"]["epochs"] == 1 and set(best["swept"]) == {"learning_rate", "batch_size"}

    rows = list(csv.DictReader((work / "results/leaderboard.csv").open()))
    assert len(rows) == 4 and {r["state"] for r in rows} == {"finished"}
    values = [float(r["val_accuracy"]) for r in rows]
    assert values == sorted(values, reverse=True)
    assert rows[0]["run_id"] == best["run_id"]
    configs = {(r["learning_rate"], r["batch_size"]) for r in rows}
    assert len(configs) == 4  # every grid point exactly once

    for name in (
        "val_accuracy_vs_learning_rate.png",
        "val_accuracy_vs_batch_size.png",
        "learning_curves_val_accuracy.png",
    ):
        assert (work / "results/plots" / name).read_bytes()[:4] == b"\x89PNG"
    assert best["run_id"] in (work / "results/best/README.md").read_text()
    for agent in (0, 1):
        summary = json.loads((work / f"results/sweep/agents/{agent}.json").read_text())
        assert summary["device"] == "cpu"
    for run in rows:
        run_dir = work / "results/runs" / run["run_id"]
        written = {p.name for p in run_dir.iterdir()}
        assert {paths.RUN_CONFIG, paths.RUN_METRICS, paths.ONNX_FILE} <= written


def test_second_run_has_nothing_to_do_and_more_runs_continue_the_sweep(tiny_run):
    work, config, _ = tiny_run
    again = snakemake(work, "--cores", "2", "--configfile", str(config))
    assert "Nothing to be done" in again.stdout
    sweep_before = json.loads((work / "results/sweep/sweep.json").read_text())
    bigger = tiny_config(work, agents=3)
    result = run_pipeline(work, bigger)
    assert "register_sweep" not in result.stdout.split("Job stats:")[1].split("Select jobs")[0]
    assert (
        json.loads((work / "results/sweep/sweep.json").read_text())["sweep_id"]
        == sweep_before["sweep_id"]
    )
    agent2 = json.loads((work / "results/sweep/agents/2.json").read_text())
    assert agent2["runs"] == []  # the grid was done: nothing was redone


def test_report_is_generated(tiny_run):
    work, config, _ = tiny_run
    result = snakemake(work, "--report", "report.html", "--configfile", str(config))
    assert result.returncode == 0, result.stdout[-3000:]
    assert (work / "report.html").stat().st_size > 10_000


def _outputs(work):
    return {
        p: (work / p).read_bytes() for p in ("results/leaderboard.csv", "results/best/model.onnx")
    }


def _wandb_run_ids(work):
    """The W&B run ids of the runs, as wandb itself wrote them: `run-<id>.wandb` in each run's
    offline folder."""
    logs = (work / paths.WANDB_DIR).glob("wandb/offline-run-*/run-*.wandb")
    return {p.name.removeprefix("run-").removesuffix(".wandb") for p in logs}


def test_byte_identical_with_one_or_two_agents_and_seed_matters(tmp_path, tiny_run):
    """The same sweep with one agent or two gives the same bytes and the same W&B run ids (a
    rerun of a sweep goes into its own W&B runs); another seed is another sweep: other results,
    and W&B run ids disjoint from the first sweep's, so syncing both into one W&B project
    mixes nothing."""
    reference = _outputs(tiny_run[0])
    reference_ids = _wandb_run_ids(tiny_run[0])
    assert len(reference_ids) == 4
    one = copy_workflow(tmp_path / "one")
    run_pipeline(one, tiny_config(one, agents=1))
    assert _outputs(one) == reference
    assert _wandb_run_ids(one) == reference_ids
    other = copy_workflow(tmp_path / "other")
    run_pipeline(other, tiny_config(other, seed=1, agents=1))
    changed = _outputs(other)
    assert all(changed[p] != reference[p] for p in reference)
    other_ids = _wandb_run_ids(other)
    assert len(other_ids) == 4 and not other_ids & reference_ids


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ("method: gridd\nparameters: {learning_rate: {values: [0.1]}}\n", "'gridd' is not one of"),
        (
            "method: grid\nparameters: {learnig_rate: {values: [0.1]}}\n",
            "the trainer has no parameter 'learnig_rate'",
        ),
    ],
)
def test_bad_sweep_file_is_rejected_at_register_before_any_agent(tmp_path, sweep, message):
    work = copy_workflow(tmp_path / "w")
    result = snakemake(work, "--cores", "2", "--configfile", str(tiny_config(work, sweep=sweep)))
    assert result.returncode != 0
    assert "configs/tiny-sweep.yaml: " in result.stdout and message in result.stdout
    assert "Error in rule register_sweep" in result.stdout
    assert not (work / "results/sweep/sweep.json").exists()
    assert not (work / "results/sweep/agents").exists()


# The bayes + hyperband example is run end to end, and proven reproducible with any number of
# agents, in tests/e2e/test_adaptive_reproducibility.py.


# A sweep file as a W&B user may write it: a grid over the learning rate, no metric.
NO_METRIC_SWEEP = """method: grid
parameters:
  learning_rate:
    values: [0.001, 0.01, 0.1]
"""


def test_a_sweep_without_a_metric_runs_to_the_end_and_says_how_it_ranked(tmp_path):
    work = copy_workflow(tmp_path / "w")
    result = run_pipeline(work, tiny_config(work, sweep=NO_METRIC_SWEEP))
    rows = list(csv.DictReader((work / "results/leaderboard.csv").open()))
    assert sorted(float(r["learning_rate"]) for r in rows) == [0.001, 0.01, 0.1]
    assert [r["rank"] for r in rows] == ["1", "2", "3"] and {r["state"] for r in rows} == {
        "finished"
    }
    values = [float(r["val_accuracy"]) for r in rows]
    assert values == sorted(values, reverse=True)
    best = json.loads((work / "results/best/best_run.json").read_text())
    assert best["metric"]["source"] == "objective" and best["run_id"] == rows[0]["run_id"]
    note = "the sweep file names no metric, so the objective's own"
    assert f"val_accuracy = {best['metric']['value']:.6g} (maximize; {note})" in result.stdout
    assert f"val_accuracy (maximize; {note})" in (work / "results/best/README.md").read_text()
    assert "no run" not in result.stdout and "not ranked" not in result.stdout
