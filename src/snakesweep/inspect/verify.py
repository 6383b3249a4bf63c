"""`snakesweep verify`: prove that a finished sweep is what its store says.

The store is the sweep's record: every claim with its config, every epoch's metric, every stop
decision, every final result with the digest of the model it wrote. Verification replays it
with the same pure rules and the same engine the agents used (`decide`, `engine`), so a
suggestion, a stop decision, a model file, a leaderboard row or the published best model that
does not follow from the record is found, and named. The first discrepancy ends it.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

from snakesweep import paths
from snakesweep.aggregate.leaderboard import collect, leaderboard_text, rank
from snakesweep.data.arrays import file_sha256
from snakesweep.errors import UserError
from snakesweep.inspect.results import SweepResults, load
from snakesweep.record.state import FINISHED, STOPPED, SweepState
from snakesweep.sweep import decide, engine
from snakesweep.sweep.metric import engine_metric, ranking_of
from snakesweep.sweep.spec import flatten_parameter_names, run_config
from snakesweep.train.outputs import METRICS_FILE, ONNX_FILE

log = logging.getLogger(__name__)


class Discrepancy(UserError):
    """What the results hold does not follow from the store."""


class Sweep(SweepResults):
    """A finished sweep's results with its events folded, as the agents folded them."""

    def __init__(self, results: SweepResults):
        super().__init__(results.results, results.record, results.events)
        self.state = SweepState().apply_all(self.events)
        self.parallelism = self.record["parallelism"]


def load_finished(results: str | Path) -> Sweep:
    sweep = load(results)
    if not sweep.store.exists():
        raise UserError(f"{sweep.store}: the sweep's store is missing")
    return Sweep(sweep)


def check_suggestions(sweep: Sweep) -> int:
    """Every run's config is the engine's suggestion for its index, given what it was shown."""
    config, seed, runs = sweep.record["config"], sweep.record["seed"], sweep.state.by_index
    views = engine.EngineRuns(engine_metric(config))
    for run in runs:
        shown = decide.suggestion_view(sweep.state, run.index, sweep.parallelism, config["method"])
        expected = engine.suggest(config, [views.view(r, ended) for r, ended in shown], seed, run.index)
        flat = None if expected is None else run_config(config["parameters"], expected)
        if expected != run.engine_config or flat != run.config:
            found = "none (the search was exhausted)" if expected is None else json.dumps(flat, sort_keys=True)
            raise Discrepancy(
                f"run {run.run_id}: its config {json.dumps(run.config, sort_keys=True)} is not the engine's "
                f"suggestion {run.index}, which is {found}"
            )
    return len(runs)


def check_stops(sweep: Sweep) -> int:
    """Every epoch's early-termination decision, recomputed, matches the recorded one."""
    config = sweep.record["config"]
    if "early_terminate" not in config:
        return 0
    views = engine.EngineRuns(engine_metric(config))
    decisions = 0
    for run in sweep.state.by_index:
        peers = [views.view(r, True) for r in decide.stop_peers(sweep.state, run, sweep.parallelism)]
        steps = [h["step"] for h in run.history]
        if run.stopped_at is not None and run.stopped_at not in steps:
            raise Discrepancy(f"run {run.run_id}: stopped at epoch {run.stopped_at}, of which the store has no metric")
        for step in steps:
            stop = engine.should_stop(config, run, step, peers)
            decisions += 1
            if stop != (run.stopped_at == step):
                said = "stop" if run.stopped_at == step else "go on"
                raise Discrepancy(
                    f"run {run.run_id}: at epoch {step} the store says {said}, but hyperband's decision "
                    f"from the recorded metrics is {'stop' if stop else 'go on'}"
                )
    return decisions


def check_models(sweep: Sweep) -> int:
    """Every finished run's model.onnx still has the digest recorded when it was made."""
    checked = 0
    for run in sweep.state.by_index:
        if run.state not in (FINISHED, STOPPED):
            continue
        model = sweep.path(paths.RUNS_DIR) / run.run_id / ONNX_FILE
        if run.onnx_sha256 is None:
            raise Discrepancy(f"run {run.run_id}: the store records no model digest (a store from before verify)")
        if not model.exists():
            raise Discrepancy(f"run {run.run_id}: {model} is missing")
        if file_sha256(model) != run.onnx_sha256:
            raise Discrepancy(f"run {run.run_id}: {model} has sha256 {file_sha256(model)}, not {run.onnx_sha256} as recorded")
        checked += 1
    return checked


def check_outputs(sweep: Sweep) -> dict:
    """The leaderboard and results/best/ are what the aggregate makes of the recorded results."""
    metric = ranking_of(sweep.record)
    parameters = sorted(flatten_parameter_names(sweep.record["config"]["parameters"]))
    ranked = rank(collect(sweep.state.runs, sweep.path(paths.RUNS_DIR)), metric.name, metric.goal)
    expected = leaderboard_text(ranked, metric.name, parameters).splitlines()
    board = sweep.path(paths.LEADERBOARD)
    found = board.read_text().splitlines() if board.exists() else []
    for line, (want, have) in enumerate(zip(expected, found), start=1):
        if want != have:
            run_id = (want.split(",") + [""])[1] or (have.split(",") + [""])[1]
            raise Discrepancy(f"{board}: the row of run {run_id} (line {line}) differs from the store: expected {want!r}, found {have!r}")
    if len(expected) != len(found):
        raise Discrepancy(f"{board}: {len(found) - 1} rows, but the store has {len(expected) - 1} runs")
    best = ranked[0]
    record = json.loads(sweep.path(paths.BEST_RUN).read_text())
    if record["run_id"] != best["run_id"]:
        raise Discrepancy(f"{paths.BEST_RUN}: names run {record['run_id']}, but the store's best is run {best['run_id']}")
    recorded = sweep.state.runs[best["run_id"]].onnx_sha256
    if file_sha256(sweep.path(paths.BEST_MODEL)) != recorded:
        raise Discrepancy(f"run {best['run_id']}: {sweep.path(paths.BEST_MODEL)} is not the model its run recorded ({recorded})")
    return best


def retrain(sweep: Sweep, run_id: str) -> str:
    """Train `run_id` again from its recorded seed and config; its ONNX bytes must be the same."""
    from snakesweep.train.run import execute_run  # torch: only when asked to retrain

    metrics = json.loads((sweep.path(paths.RUNS_DIR) / run_id / METRICS_FILE).read_text())
    with tempfile.TemporaryDirectory(prefix="snakesweep-verify-") as scratch:
        execute_run(
            metrics["config"],
            sweep.path(paths.DATASET),
            scratch,
            seed=metrics["seed"],
            device=metrics["device"],
            threads=metrics["threads"],
            wandb_mode="disabled",
            manifest_path=sweep.path(paths.MANIFEST),
        )
        again = file_sha256(Path(scratch) / ONNX_FILE)
    if again != file_sha256(sweep.path(paths.BEST_MODEL)):
        raise Discrepancy(f"run {run_id}: retrained from its seed and config, model.onnx has sha256 {again}, not the published one")
    return again


def verify(results: str | Path = paths.RESULTS, retrain_best: bool = False) -> str:
    """Check everything; return the one-paragraph summary, or raise the first Discrepancy."""
    sweep = load_finished(results)
    local = sweep.record["controller"] == "local"
    suggestions = check_suggestions(sweep) if local else 0
    stops = check_stops(sweep) if local else 0
    models = check_models(sweep)
    best = check_outputs(sweep)
    lines = [
        f"sweep {sweep.record['sweep_id']} verified: {len(sweep.state.runs)} runs",
        f"  suggestions replayed: {suggestions}" + ("" if local else " (the W&B server decided them)"),
        f"  early-termination decisions replayed: {stops}",
        f"  model files matching their recorded sha256: {models}",
        f"  {paths.LEADERBOARD} and {paths.BEST_DIR}/ follow from the store (best run {best['run_id']})",
    ]
    if retrain_best:
        digest = retrain(sweep, best["run_id"])
        lines.append(f"  best run {best['run_id']} retrained: model.onnx byte-identical (sha256 {digest[:16]}...)")
    return "\n".join(lines)
