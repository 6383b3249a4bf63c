"""Aggregate a finished sweep into results/best/, the leaderboard, the plots and the sweep's
parameter importance."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

from snakesweep import paths
from snakesweep.aggregate.best import publish_best
from snakesweep.aggregate.importance import parameter_importance, write_importance
from snakesweep.aggregate.leaderboard import RANKED_STATES, collect, rank, write_leaderboard
from snakesweep.aggregate.model_card import write_model_card
from snakesweep.aggregate.plots import write_plots
from snakesweep.aggregate.views import write_views
from snakesweep.data.dataset import load_dataset
from snakesweep.errors import UserError
from snakesweep.sweep.spec import flatten_parameter_names, sweep_metric
from snakesweep.sweep.state import fold
from snakesweep.sweep.store import read_events

log = logging.getLogger(__name__)

def aggregate(
    sweep_path: str | Path,
    data_path: str | Path,
    manifest_path: str | Path,
    runs_dir: str | Path,
    model_out: str | Path,
    best_json_out: str | Path,
    card_out: str | Path,
    leaderboard_out: str | Path,
    plots_dir: str | Path,
    importance_out: str | Path,
) -> dict:
    sweep = json.loads(Path(sweep_path).read_text())
    metric = sweep["config"]["metric"] = sweep_metric(sweep["config"])
    name, goal = metric["name"], metric["goal"]
    parameters = sorted(flatten_parameter_names(sweep["config"]["parameters"]))

    runs = fold(read_events(sweep["store"]))
    rows = collect(runs, runs_dir)
    ranked = rank(rows, name, goal)
    write_leaderboard(leaderboard_out, ranked, name, parameters)
    write_plots(rows, ranked, name, parameters, plots_dir)
    importance = parameter_importance(rows, name, parameters, sweep["seed"])
    write_importance(importance_out, importance)
    write_views(rows, name, goal, parameters, importance, plots_dir)
    counts = Counter(row["state"] for row in rows)
    log.info("sweep %s: %d runs (%s)", sweep["sweep_id"], len(rows), dict(counts))
    for row in ranked:
        if row["state"] not in RANKED_STATES:
            log.warning("run %s %s: %s", row["run_id"], row["state"], row["reason"])

    if not ranked or ranked[0]["state"] not in RANKED_STATES or name not in ranked[0]["summary"]:
        raise UserError(
            f"{sweep_path}: no run of sweep {sweep['sweep_id']} finished "
            f"({len(rows)} runs: {dict(counts) or 'none'}); see {paths.LOGS}/agent-*.log and "
            f"{runs_dir}/*/metrics.json for the reasons"
        )
    dataset = load_dataset(data_path, manifest_path)
    extra = {}
    if sweep["controller"] == "wandb":
        from snakesweep.aggregate.wandb_best import wandb_best_run

        extra["wandb_best_run"] = wandb_best_run(sweep)
    best = publish_best(ranked[0], sweep, runs_dir, dataset, model_out, best_json_out, extra)
    write_model_card(card_out, best, sweep, dict(counts))
    log.info(
        "best run %s: %s = %s, test accuracy %.4f (onnxruntime)",
        best["run_id"], name, best["metric"]["value"], best["test_accuracy_onnxruntime"],
    )
    return best
