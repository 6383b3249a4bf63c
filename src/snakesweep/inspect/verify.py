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
from snakesweep.aggregate.leaderboard import build, is_ranked
from snakesweep.data.arrays import file_sha256
from snakesweep.data.dataset import DataFiles
from snakesweep.errors import UserError
from snakesweep.inspect.results import SweepResults, load
from snakesweep.record import events, stores
from snakesweep.record.events import Kind
from snakesweep.record.state import FINISHED, STOPPED, SweepState
from snakesweep.sweep.search import Search

log = logging.getLogger(__name__)


class Discrepancy(UserError):
    """What the results hold does not follow from the store."""


class Sweep(SweepResults):
    """A finished sweep's results with its events folded, as the agents folded them."""

    def __init__(self, results: SweepResults):
        super().__init__(results.results, results.record, results.events)
        self.state = SweepState().apply_all(self.events)
        self.parallelism = self.record.parallelism


def load_finished(results: str | Path) -> Sweep:
    sweep = load(results)
    if not stores.exists(sweep.store):
        raise UserError(f"{sweep.store}: the sweep's store is missing")
    return Sweep(sweep)


def replay(sweep: Sweep) -> tuple[int, int]:
    """Replay the store line by line, as the agents wrote it, and check every decision in it:
    each new suggestion against what the engine was shown just before its claim, each requeue
    against the run's config, and (with early termination) each metric's stop-or-go-on against
    the state just after it. Replaying in order, not from the final state, keeps a run that
    `snakesweep retry` ran again from changing what earlier decisions saw. Returns the
    suggestions and the stop decisions checked."""
    config, record = sweep.record.config, sweep.record
    search = Search(config, record.seed, sweep.parallelism, record.file, sweep.results.parent)
    stops_early = "early_terminate" in config or search.prunes
    state, suggestions, decisions, decided_stop = SweepState(), 0, 0, None
    recorded = sweep.events
    for position, event in enumerate(recorded):
        kind = events.kind_of(event)
        if kind == Kind.CLAIM:
            suggestions += _check_claim(sweep, state, search, event)
        elif kind == Kind.STOP and decided_stop != (event["run"], event.get("step")):
            raise Discrepancy(
                f"run {event['run']}: stopped at epoch {event.get('step')}, which no recorded "
                "metric decided"
            )
        stopping = (
            kind == Kind.METRIC
            and event["run"] in state.runs
            and state.runs[event["run"]].should_stop
        )
        state.apply(event)
        if kind == Kind.METRIC and stops_early and not stopping and event["run"] in state.runs:
            decisions += 1
            decided_stop = _check_stop(
                sweep, state, search, event, recorded[position + 1 : position + 2]
            )
    return suggestions, decisions


def _check_claim(sweep: Sweep, state: SweepState, search: Search, event: dict) -> int:
    """1 for a new suggestion checked; 0 for a requeued run, whose config must be its own."""
    index = event["index"]
    if index < len(state.by_index) and state.by_index[index] is not None:
        if event["config"] != state.by_index[index].config:
            raise Discrepancy(
                f"run {event['run']}: handed out again with another config than its own"
            )
        return 0
    made = search.suggest(state, index)
    flat, expected = (None, None) if made is None else made
    if expected != event["engine_config"] or flat != event["config"]:
        found = (
            "none (the search was exhausted)"
            if expected is None
            else json.dumps(flat, sort_keys=True)
        )
        raise Discrepancy(
            f"run {event['run']}: its config {json.dumps(event['config'], sort_keys=True)} is not "
            "the engine's "
            f"suggestion {index}, which is {found}"
        )
    return 1


def _check_stop(
    sweep: Sweep, state: SweepState, search: Search, event: dict, following: list[dict]
) -> tuple | None:
    """The early-termination decision after `event` (a metric), recomputed as the controller
    made it, against what the store says: a `stop` right after it, or none."""
    run, step = state.runs[event["run"]], event["step"]
    stop = search.stops(state, run, step)
    said_stop = (
        bool(following)
        and events.kind_of(following[0]) == Kind.STOP
        and following[0].get("run") == run.run_id
    )
    if stop != said_stop:
        raise Discrepancy(
            f"run {run.run_id}: at epoch {step} the store says "
            f"{'stop' if said_stop else 'go on'}, but the early-termination "
            f"decision from the recorded metrics is {'stop' if stop else 'go on'}"
        )
    return (run.run_id, step) if stop else None


def check_files(sweep: Sweep) -> int:
    """Every file a run recorded still has the digest recorded when it was made: the ConvNet's
    model.onnx of each finished or stopped run, and every file the user's code wrote."""
    if sweep.record.objective.user_code:
        return sum(
            _check_user_files(sweep, run)
            for run in sweep.state.by_index
            if run.artifacts is not None
        )
    checked = 0
    for run in sweep.state.by_index:
        if run.state not in (FINISHED, STOPPED):
            continue
        if run.onnx_sha256 is None:
            raise Discrepancy(f"run {run.run_id}: the store records no digest of its model.onnx")
        _check_file(
            run.run_id, sweep.path(paths.RUNS_DIR) / run.run_id / paths.ONNX_FILE, run.onnx_sha256
        )
        checked += 1
    return checked


def _check_user_files(sweep: Sweep, run) -> int:

    files = sweep.path(paths.RUNS_DIR) / run.run_id / paths.RUN_FILES
    for name, digest in run.artifacts.items():
        _check_file(run.run_id, files / name, digest)
    return len(run.artifacts)


def _check_file(run_id: str, path: Path, recorded: str) -> None:
    if not path.exists():
        raise Discrepancy(f"run {run_id}: {path} is missing")
    if file_sha256(path) != recorded:
        raise Discrepancy(
            f"run {run_id}: {path} has sha256 {file_sha256(path)}, not {recorded} as recorded"
        )


def check_outputs(sweep: Sweep) -> dict:
    """The leaderboard and results/best/ are what the aggregate makes of the recorded results."""
    _, ranked, text = build(sweep.record, sweep.state.runs, sweep.path(paths.RUNS_DIR))
    expected = text.splitlines()
    board = sweep.path(paths.LEADERBOARD)
    found = board.read_text().splitlines() if board.exists() else []
    for line, (want, have) in enumerate(zip(expected, found, strict=False), start=1):
        if want != have:
            run_id = (want.split(",") + [""])[1] or (have.split(",") + [""])[1]
            raise Discrepancy(
                f"{board}: the row of run {run_id} (line {line}) differs from the store: expected "
                f"{want!r}, found {have!r}"
            )
    if len(expected) != len(found):
        raise Discrepancy(
            f"{board}: {len(found) - 1} rows, but the store has {len(expected) - 1} runs"
        )
    ranking = sweep.record.ranking
    best = ranked[0] if ranked and is_ranked(ranked[0], ranking.name if ranking else None) else None
    record = json.loads(sweep.path(paths.BEST_RUN).read_text())
    if record["run_id"] != (best and best["run_id"]):
        said = f"the store's best is run {best['run_id']}" if best else "the store ranks no run"
        raise Discrepancy(f"{paths.BEST_RUN}: names run {record['run_id']}, but {said}")
    recorded = best and sweep.state.runs[best["run_id"]].onnx_sha256
    if recorded and file_sha256(sweep.path(paths.BEST_MODEL)) != recorded:
        raise Discrepancy(
            f"run {best['run_id']}: {sweep.path(paths.BEST_MODEL)} is not the model its run "
            f"recorded ({recorded})"
        )
    return best


def retrain(sweep: Sweep, run_id: str) -> str:
    """Train `run_id` again from its recorded seed and config; its ONNX bytes must be the same."""
    from snakesweep.convnet.run import execute_run  # torch: only when asked to retrain
    from snakesweep.convnet.trainer import Setup
    from snakesweep.convnet.wandb_run import Tracking

    metrics = json.loads((sweep.path(paths.RUNS_DIR) / run_id / paths.RUN_METRICS).read_text())
    with tempfile.TemporaryDirectory(prefix="snakesweep-verify-") as scratch:
        data = DataFiles(str(sweep.path(paths.DATASET)), str(sweep.path(paths.MANIFEST)))
        setup = Setup(metrics["seed"], metrics["device"], metrics["threads"])
        tracking = Tracking(mode="disabled", project=sweep.record.project)
        execute_run(metrics["config"], data, scratch, setup, tracking)
        again = file_sha256(Path(scratch) / paths.ONNX_FILE)
    if again != file_sha256(sweep.path(paths.BEST_MODEL)):
        raise Discrepancy(
            f"run {run_id}: retrained from its seed and config, model.onnx has sha256 {again}, "
            "not the published one"
        )
    return again


def verify(results: str | Path = paths.RESULTS, retrain_best: bool = False) -> str:
    """Check everything; return the one-paragraph summary, or raise the first Discrepancy."""
    sweep = load_finished(results)
    local = sweep.record.controller == "local"
    suggestions, stops = replay(sweep) if local else (0, 0)
    files = check_files(sweep)
    best = check_outputs(sweep)
    lines = [
        f"sweep {sweep.record.sweep_id} verified: {len(sweep.state.runs)} runs",
        f"  suggestions replayed: {suggestions}"
        + ("" if local else " (the W&B server decided them)"),
        f"  early-termination decisions replayed: {stops}",
        f"  run files matching their recorded sha256: {files}",
        f"  {paths.LEADERBOARD} and {paths.BEST_DIR}/ follow from the store "
        + (f"(best run {best['run_id']})" if best else "(no run is ranked)"),
    ]
    if retrain_best and sweep.record.objective.user_code:
        raise UserError(
            "--retrain retrains the built-in ConvNet; your own code's runs are checked by their "
            "files' digests"
        )
    if retrain_best and best:
        digest = retrain(sweep, best["run_id"])
        lines.append(
            f"  best run {best['run_id']} retrained: model.onnx byte-identical (sha256 "
            f"{digest[:16]}...)"
        )
    return "\n".join(lines)
