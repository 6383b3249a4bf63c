"""Every example in examples/, W&B users' own code, swept end to end by the real snakemake,
offline, with 2 agents. The four that train on MNIST read the data stage's splits of the bundled
sample (`data.prepare: always`, which sets `SNAKESWEEP_DATA`); the two that need no MNIST get no
data stage at all (`data.prepare: auto`, the default): no `resources/`, no `results/data/`.

Each example is copied into a scratch copy of the workflow, with its sweep file shrunk where it
would take long (a smaller `run_cap`; `method`, `metric`, `early_terminate` and the parameters
stay as written), and swept. Then, for every run:

- its parameters arrived: in `sweep-params.yaml` (`WANDB_SWEEP_PARAM_PATH`) as W&B's agent
  writes it; for a `program:` on its command line, as wandb itself recorded the program's argv
  (the offline run's environment record), formatted as W&B's agent formats them; and in
  `wandb.config`, over the code's own defaults, as the run's offline wandb log holds it;
- what it logged is what its offline wandb log holds (history, and summary for a run that was
  not stopped early), what its metrics.json records, and what the leaderboard shows, column by
  column;

and `snakesweep status` (asked while snakemake runs, and after) shows the best run's metric and
its last values, and `snakesweep verify` exits 0. The wandb logs are read with wandb's own
reader, `wandb-core leet inspect`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import yaml
from workflow_helpers import REPO, copy_workflow, run_pipeline_watched, write_config

from snakesweep import paths

pytestmark = pytest.mark.slow

EXAMPLES = REPO / "examples"

# The sizes swept here. The examples' own defaults are already small (512 training images, 1-4
# epochs); fewer runs keep the whole file at about 4 minutes on 2 idle cores.
SHRINK = {
    "cnn-function": {},  # a grid of 3
    "digits-program": {},  # run_cap 12, of 30 full-batch epochs on 1,500 digits: seconds each
    "mlp-config-program": {"run_cap": 4},  # 8
    "mlp-argparse-program": {},  # run_cap 8: hyperband stops the 8th after its first epoch
    "intro-pipeline-program": {},  # a grid of 4
    "simulated-curves-function": {"run_cap": 6},  # 12
}
# The declared parallelism where it is not the default: at 5, each of the digits example's
# suggestions sees one result fewer than at 4, and hyperband stops one of its 12 runs (at 4 it
# stops none), so the checks of a stopped run are not idle for it.
PARALLELISM = {"digits-program": 5}
FUNCTIONS = {"cnn-function", "simulated-curves-function"}
# The examples that train on MNIST: they read the data stage's splits from SNAKESWEEP_DATA.
READS_MNIST = {
    "cnn-function",
    "mlp-config-program",
    "mlp-argparse-program",
    "intro-pipeline-program",
}

# What each example's code gives `wandb.init(config=...)`: the sweep's values override these.
CODE_DEFAULTS = {
    "cnn-function": {"learning_rate": 0.01, "epochs": 1, "batch_size": 64, "train_size": 512},
    "digits-program": {"learning_rate": 0.01, "hidden": 32, "epochs": 30},
    "mlp-config-program": {
        "layer1_size": 128,
        "layer2_size": 64,
        "dropout": 0.2,
        "learning_rate": 0.001,
        "batch_size": 64,
        "epochs": 2,
        "train_size": 512,
    },
    # its argparse defaults, all flags as parsed: `wandb.init(config=vars(args))`
    "mlp-argparse-program": {
        "learning_rate": 0.003,
        "batch_size": 64,
        "epochs": 4,
        "hidden": 64,
        "train_size": 512,
        "seed": 0,
    },
    "intro-pipeline-program": {
        "epochs": 2,
        "classes": 10,
        "kernels": [16, 32],
        "batch_size": 64,
        "learning_rate": 0.005,
        "train_size": 512,
        "test_size": 256,
        "dataset": "MNIST",
        "architecture": "CNN",
    },
    "simulated-curves-function": {
        "learning_rate": 0.01,
        "batch_size": 64,
        "dropout": 0.2,
        "epochs": 10,
    },
}

# What each example logs with wandb.log (besides wandb's `_step`).
LOGGED = {
    "cnn-function": {"epoch", "loss", "accuracy", "val_loss", "val_accuracy"},
    "digits-program": {"epoch", "loss", "val_loss"},
    "mlp-config-program": {"epoch", "loss", "val_loss", "val_accuracy"},
    "mlp-argparse-program": {"epoch", "train_loss", "val_loss", "val_accuracy"},
    "intro-pipeline-program": {"epoch", "loss", "test_accuracy"},  # and wandb.watch's histograms
    "simulated-curves-function": {"epoch", "loss", "val_loss"},
}


@dataclass
class Sweep:
    example: str
    work: Path
    spec: dict  # the sweep file as swept
    seconds: float
    watched: list[str]  # what `snakesweep status` printed while snakemake ran
    header: list[str] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)  # the leaderboard, best first

    @property
    def metric(self) -> str | None:
        return (self.spec.get("metric") or {}).get("name")

    @property
    def epochs(self) -> int:
        """The epochs each run trains: the sweep's value, else the code's default."""
        swept = self.spec["parameters"].get("epochs") or {}
        return swept.get("value", CODE_DEFAULTS[self.example]["epochs"])

    def run_dir(self, run_id: str) -> Path:
        return self.work / paths.run_dir(run_id)

    def metrics(self, run_id: str) -> dict:
        return json.loads((self.run_dir(run_id) / paths.RUN_METRICS).read_text())

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "snakesweep.cli",
                *args,
                "--results",
                str(self.work / "results"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )


def sweep_example(example: str, root: Path) -> Sweep:
    """Copy the workflow and the example into `root`, shrink the sweep file, run snakemake."""
    work = copy_workflow(root / "w")
    code = work / "examples" / example
    shutil.copytree(
        EXAMPLES / example, code, ignore=shutil.ignore_patterns("__pycache__", "wandb", "data")
    )
    written = yaml.safe_load((EXAMPLES / example / "sweep.yaml").read_text())
    spec = {**written, **SHRINK[example]}
    for kept in ("method", "metric", "early_terminate", "parameters", "program"):
        assert spec.get(kept) == written.get(kept)
    (code / "sweep.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    sweep = {"file": f"examples/{example}/sweep.yaml"}
    if example in PARALLELISM:
        sweep["parallelism"] = PARALLELISM[example]
    if example in FUNCTIONS:
        sweep["function"] = f"examples/{example}/train.py:train"
    data = {"prepare": "always", "source": "bundled"} if example in READS_MNIST else {}
    config = write_config(
        work,
        {"seed": 0, "data": data, "sweep": sweep, "agents": {"count": 2, "threads": 1}},
    )
    start = time.monotonic()
    result = run_pipeline_watched(work, config, every=2.0, timeout=600)
    seconds = time.monotonic() - start
    with (work / "results/leaderboard.csv").open() as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = [dict(zip(header, line, strict=False)) for line in reader]
    return Sweep(example, work, spec, seconds, result.status, header, rows)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """`swept(example)`: the example's sweep, run once per module."""
    done: dict[str, Sweep] = {}

    def get(example: str) -> Sweep:
        if example not in done:
            done[example] = sweep_example(example, tmp_path_factory.mktemp(example))
        return done[example]

    return get


# --- the run's offline wandb log, read by wandb's own reader ---------------------------------


def _core() -> str:
    from wandb.util import get_core_path

    return get_core_path()


def leet(run_file: Path, *flags: str) -> str:
    """`wandb leet inspect FLAGS` on one run's .wandb file (wandb-core itself: the `wandb` CLI
    around it costs a second to start)."""
    done = subprocess.run(
        [
            _core(),
            "leet",
            "inspect",
            "--no-observability",
            *flags,
            "--run-file",
            str(run_file),
            str(run_file.parent),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass
class WandbRun:
    config: dict  # wandb.config as the run ended, without wandb's `_wandb`
    environment: dict  # the run's environment record: program, args, root, ...
    history: list[dict]  # every logged row, flat, as snakesweep keeps them
    summary: dict  # the run's summary, flat, as snakesweep keeps it
    state: str
    exit_code: int


def wandb_run(run_dir: Path) -> WandbRun:
    files = sorted((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 1, f"{run_dir}: expected one offline wandb run, found {files}"
    records = [json.loads(line) for line in leet(files[0], "--json").splitlines() if line.strip()]
    environments = [r["environment"] for r in records if r["type"] == "environment"]
    environment = next(env for env in environments if "program" in env)  # not the hardware one
    history = [kept(r["history"]["item"]) for r in records if r["type"] == "history"]
    summary = json.loads(leet(files[0], "--summary", "--json"))
    return WandbRun(
        config={k: v for k, v in summary["config"].items() if k != "_wandb"},
        environment=environment,
        history=history,
        summary=kept(flat(summary["summary"])),
        state=summary["state"],
        exit_code=summary["exit_code"],
    )


def flat(values: dict, prefix: str = "") -> dict:
    """A nested summary as its history rows name it: {"a": {"b": 1}} as {"a.b": 1}. A W&B object
    (a histogram: a dict with `_type`) is one value, as in a history row."""
    out = {}
    for key, value in values.items():
        if isinstance(value, dict) and "_type" not in value:
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def kept(row: dict) -> dict:
    """A row as snakesweep keeps it: without wandb's own timing keys (`_runtime`, `_timestamp`,
    `_wandb.*`; `_step` stays) and without what is no single value (`wandb.watch`'s histograms,
    which stay in wandb's own log)."""
    return {
        k: v
        for k, v in row.items()
        if (k == "_step" or not any(part.startswith("_") for part in k.split(".")))
        and (v is None or isinstance(v, (int, float, str)))
    }


# --- the checks --------------------------------------------------------------------------------


def cell(text: str):
    """A leaderboard cell as the value it shows: numbers and lists as JSON, "" as None."""
    if text == "":
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def check_parameters_arrived(sweep: Sweep, run_id: str, metrics: dict, wandb: WandbRun) -> None:
    params = metrics["params"]
    values = {name: item["value"] for name, item in params.items()}
    assert set(values) == set(sweep.spec["parameters"]), run_id
    assert metrics["config"] == values, run_id
    # as W&B's agent writes them, where WANDB_SWEEP_PARAM_PATH names
    written = yaml.safe_load((sweep.run_dir(run_id) / paths.PARAM_FILE).read_text())
    assert written == {"wandb_version": 1, **params}, run_id
    # into wandb.config, over the code's own defaults (for a function the only way in)
    assert wandb.config == {**CODE_DEFAULTS[sweep.example], **values}, run_id
    if sweep.example in FUNCTIONS:
        assert not wandb.environment.get("args"), run_id
        return
    # a program: on its command line, as wandb recorded the argv it was started with, formatted
    # by W&B's agent's own code; the program the sweep file names, in the work dir's copy
    from wandb.sdk.launch.sweeps.utils import create_sweep_command_args

    expected = create_sweep_command_args({"args": params})["args"]
    assert sorted(wandb.environment["args"]) == sorted(expected), run_id
    program = sweep.work / "examples" / sweep.example / sweep.spec["program"]
    assert Path(wandb.environment["program"]).resolve() == program.resolve(), run_id
    assert Path(wandb.environment["root"]).resolve() == sweep.run_dir(run_id).resolve(), run_id


def check_logged_values(sweep: Sweep, row: dict, metrics: dict, wandb: WandbRun) -> None:
    """The run's rows and summary in its wandb log, its metrics.json, and its leaderboard row."""
    run_id = row["run_id"]
    if metrics["state"] != "stopped":  # a stopped run may have been ended by a signal
        assert wandb.exit_code == 0 and wandb.state == "finished", run_id
    history, summary = metrics["history"], metrics["summary"]
    assert history, f"{run_id} logged nothing"
    assert LOGGED[sweep.example] <= set(summary), f"{run_id} logged {sorted(summary)}"
    if metrics["state"] == "stopped":
        # early termination: what the run logged after the deciding value is left out
        assert history == wandb.history[: len(history)], run_id
        assert len(history) < sweep.epochs, run_id
        last: dict = {}
        for logged in history:
            last.update(logged)
        assert summary == last, run_id
    else:
        assert metrics["state"] == "finished", (run_id, metrics["state"], metrics["reason"])
        assert history == wandb.history, run_id
        assert summary == wandb.summary, run_id
    assert row["state"] == metrics["state"], run_id
    assert cell(row["reason"]) == metrics["reason"], run_id
    for name in sweep.spec["parameters"]:
        assert cell(row[name]) == metrics["config"][name], (run_id, name)
    if sweep.metric:
        assert cell(row[sweep.metric]) == summary[sweep.metric], run_id
    for column in value_columns(sweep):
        assert cell(row[column]) == summary.get(column), (run_id, column)


def value_columns(sweep: Sweep) -> list[str]:
    return sweep.header[3 + bool(sweep.metric) + len(sweep.spec["parameters"]) : -1]


def check_leaderboard(sweep: Sweep, all_metrics: dict[str, dict]) -> None:
    """Columns: rank, run_id, state, the metric, the swept parameters sorted, every other key
    the runs logged sorted, reason; ranked runs best first."""
    logged = set().union(*(m["summary"] for m in all_metrics.values())) - {sweep.metric, "_step"}
    assert sweep.header == [
        "rank",
        "run_id",
        "state",
        *([sweep.metric] if sweep.metric else []),
        *sorted(sweep.spec["parameters"]),
        *sorted(logged),
        "reason",
    ]
    ranked = [r for r in sweep.rows if r["rank"]]
    assert [r["rank"] for r in ranked] == [str(i) for i in range(1, len(ranked) + 1)]
    assert sweep.rows[: len(ranked)] == ranked  # unranked runs come last
    if sweep.metric:
        assert ranked, "no run was ranked"
        assert all(r["state"] in ("finished", "stopped") for r in ranked)
        values = [float(r[sweep.metric]) for r in ranked]
        assert values == sorted(values, reverse=sweep.spec["metric"]["goal"] == "maximize")
    else:
        assert not ranked


def check_status(sweep: Sweep, best: dict | None) -> str:
    """`snakesweep status` after the sweep: the counts, the best run's metric and its last
    values."""
    shown = sweep.cli("status")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    method = sweep.spec["method"]
    if sweep.metric:
        goal = sweep.spec["metric"]["goal"]
        assert lines[0].endswith(f": {method}, metric {sweep.metric} ({goal})"), lines[0]
    else:
        assert lines[0].endswith(f": {method}, no metric: runs are not ranked"), lines[0]
    states = [r["state"] for r in sweep.rows]
    assert lines[1].startswith(
        f"runs: 0 queued, 0 running, {states.count('finished')} finished, "
        f"{states.count('stopped')} stopped, "
        f"0 failed, 0 crashed (of {len(sweep.rows)} planned)"
    ), lines[1]
    assert lines[-1].endswith(", done"), lines[-1]
    if best is None:
        assert "best: none: the sweep file names no metric, so no run is ranked" in lines, lines
        return shown.stdout
    config, summary = best["config"], best["summary"]
    settings = ", ".join(f"{k}={short(v)}" for k, v in sorted(config.items()))
    [best_line] = [line for line in lines if line.startswith("best: ")]
    assert (
        best_line
        == f"best: {best['run_id']} {sweep.metric} = {summary[sweep.metric]:.6g} ({settings})"
    )
    [last_line] = [line for line in lines if line.startswith("  its last values: ")]
    for key, value in summary.items():
        if key == sweep.metric or key.startswith("_"):  # wandb's own `_step`: not shown
            continue
        if isinstance(value, (int, float, str)):
            assert (
                f" {key}={short(value)}" in last_line or f": {key}={short(value)}" in last_line
            ), key
        else:
            assert f"{key}=" in last_line, key
    return shown.stdout


def check_watched(sweep: Sweep, final: str) -> None:
    """What status printed while snakemake ran: the same sweep, asked while it was running."""
    assert sweep.watched, "status never answered while snakemake ran"
    first = final.splitlines()[0]
    assert all(text.splitlines()[0] == first for text in sweep.watched)
    assert any(not text.rstrip().endswith(", done") for text in sweep.watched), (
        "status only ever saw the end"
    )


@pytest.mark.parametrize("example", sorted(SHRINK))
def test_an_example_sweeps_end_to_end(example, swept, measurement):
    sweep = swept(example)
    measurement(
        f"{example}: {len(sweep.rows)} runs by snakemake with 2 agents, {sweep.seconds:.0f} s"
    )
    all_metrics = {row["run_id"]: sweep.metrics(row["run_id"]) for row in sweep.rows}
    assert sorted(all_metrics) == sorted(p.name for p in (sweep.work / paths.RUNS_DIR).iterdir())
    # a data stage only where the code reads MNIST: otherwise no download, and no splits
    reads_mnist = example in READS_MNIST
    assert (sweep.work / paths.DATASET).exists() == reads_mnist
    assert (sweep.work / paths.RESOURCES).exists() == reads_mnist
    if "run_cap" in sweep.spec:
        assert len(sweep.rows) == sweep.spec["run_cap"]
    for row in sweep.rows:
        metrics = all_metrics[row["run_id"]]
        assert metrics["objective"] == ("function" if example in FUNCTIONS else "program")
        wandb = wandb_run(sweep.run_dir(row["run_id"]))
        check_parameters_arrived(sweep, row["run_id"], metrics, wandb)
        check_logged_values(sweep, row, metrics, wandb)
    check_leaderboard(sweep, all_metrics)
    if "early_terminate" in sweep.spec:
        # the sweep is deterministic (a seeded engine, a deterministic program, 1 thread), and
        # hyperband stops a run of this one: the stopped run's checks above are not idle
        assert "stopped" in {row["state"] for row in sweep.rows}, [
            row["state"] for row in sweep.rows
        ]

    best = json.loads((sweep.work / "results/best/best_run.json").read_text())
    if sweep.metric:
        top = sweep.rows[0]["run_id"]
        assert best["run_id"] == top
        assert best["metric"]["name"] == sweep.metric and best["metric"]["source"] == "sweep"
        assert best["metric"]["value"] == all_metrics[top]["summary"][sweep.metric]
        assert best["summary"] == all_metrics[top]["summary"]
        final = check_status(sweep, {"run_id": top, **all_metrics[top]})
    else:
        final = check_status(sweep, None)
    check_watched(sweep, final)

    verified = sweep.cli("verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"verified: {len(sweep.rows)} runs" in verified.stdout


def test_the_intro_publishes_its_best_runs_onnx_model(swept):
    """The intro's train.py writes model.onnx in its working directory and calls
    wandb.save("model.onnx"): the best run's copy is published, and it is the model that scored."""
    import onnxruntime

    sweep = swept("intro-pipeline-program")
    best = json.loads((sweep.work / "results/best/best_run.json").read_text())
    run_dir = sweep.run_dir(best["run_id"])
    published = (sweep.work / "results/best/model.onnx").read_bytes()
    assert published == (run_dir / paths.RUN_FILES / paths.ONNX_FILE).read_bytes()
    assert best["onnx_sha256"] == hashlib.sha256(published).hexdigest()
    [saved] = (run_dir / "wandb").glob("offline-run-*/files/model.onnx")  # what wandb.save kept
    assert saved.read_bytes() == published
    for row in sweep.rows:  # every run wrote its own, in its own files/
        metrics = sweep.metrics(row["run_id"])
        model = sweep.run_dir(row["run_id"]) / paths.RUN_FILES / paths.ONNX_FILE
        digest = hashlib.sha256(model.read_bytes()).hexdigest()
        assert metrics["artifacts"][paths.ONNX_FILE] == digest

    # it loads in onnxruntime and scores on the intro's own test images what the run logged
    session = onnxruntime.InferenceSession(
        str(sweep.work / "results/best/model.onnx"), providers=["CPUExecutionProvider"]
    )
    with np.load(sweep.work / paths.DATASET) as data:
        images, labels = data["x_test"], data["y_test"]
    size = CODE_DEFAULTS["intro-pipeline-program"]["test_size"]
    keep = range(0, len(labels), max(1, len(labels) // size))[:size]  # the intro's get_data
    x = (images[list(keep)][:, None] / 255).astype(np.float32)
    (logits,) = session.run(None, {"images": x})
    assert logits.shape == (len(keep), 10)
    accuracy = float((logits.argmax(1) == labels[list(keep)]).mean())
    logged = best["summary"]["test_accuracy"]
    assert math.isclose(accuracy, logged, abs_tol=2 / len(keep)), (accuracy, logged)


def test_the_cnn_function_without_a_metric_lists_every_run_unranked(swept):
    sweep = swept("cnn-function")
    assert "metric" not in sweep.spec
    assert len(sweep.rows) == 3
    assert {row["rank"] for row in sweep.rows} == {""}
    assert {row["state"] for row in sweep.rows} == {"finished"}
    assert sorted(float(row["learning_rate"]) for row in sweep.rows) == [0.001, 0.01, 0.1]
    assert [row["run_id"] for row in sweep.rows] == sorted(row["run_id"] for row in sweep.rows)
    best = json.loads((sweep.work / "results/best/best_run.json").read_text())
    assert best["run_id"] is None and best["metric"] is None
    assert "no run is ranked" in best["reason"]
    assert best["runs"] == {"finished": 3}
    assert not (sweep.work / "results/best/model.onnx").exists()
