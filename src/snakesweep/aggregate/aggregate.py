"""Aggregate a finished sweep into results/best/, the leaderboard, the plots and the sweep's
parameter importance."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

from snakesweep import paths
from snakesweep.aggregate.best import publish_best, publish_unranked, publish_user_best
from snakesweep.aggregate.importance import parameter_importance, write_importance
from snakesweep.aggregate.leaderboard import build, is_ranked, write_leaderboard
from snakesweep.aggregate.model_card import write_model_card, write_user_model_card
from snakesweep.aggregate.plots import write_plots
from snakesweep.aggregate.views import write_views
from snakesweep.data.dataset import load_dataset
from snakesweep.errors import UserError
from snakesweep.record.state import fold
from snakesweep.record.store import read_events
from snakesweep.sweep.metric import ranking_of
from snakesweep.sweep.spec import flatten_parameter_names

log = logging.getLogger(__name__)


def aggregate(
    sweep_path: str | Path,
    data_path: str | Path,
    manifest_path: str | Path,
    runs_dir: str | Path,
    model_out: str | Path | None,
    best_json_out: str | Path,
    card_out: str | Path,
    leaderboard_out: str | Path,
    plots_dir: str | Path,
    importance_out: str | Path,
) -> dict:
    """`model_out` is None for the user's own code: its best model, if it wrote one, goes to
    `paths.BEST_MODEL` without being a declared output of the workflow."""
    sweep = json.loads(Path(sweep_path).read_text())
    ranking = ranking_of(sweep)
    name = ranking.name if ranking else None
    parameters = sorted(flatten_parameter_names(sweep["config"]["parameters"]))

    rows, ranked, text = build(sweep, fold(read_events(sweep["store"])), runs_dir)
    write_leaderboard(leaderboard_out, text)
    write_plots(rows, ranked, name, parameters, plots_dir)
    importance = parameter_importance(rows, name, parameters, sweep["seed"])
    write_importance(importance_out, importance)
    write_views(rows, name, ranking.goal if ranking else None, parameters, importance, plots_dir)
    counts = dict(Counter(row["state"] for row in rows))
    log.info("sweep %s: %d runs (%s)", sweep["sweep_id"], len(rows), counts)
    for row in ranked:
        if ranking and not is_ranked(row, name):
            log.warning(
                "run %s %s: %s (not ranked)",
                row["run_id"],
                row["state"],
                row["reason"] or f"no value of {name}",
            )

    if ranking is None:
        log.info("the sweep file names no metric and the objective has none: no run is ranked")
        return publish_unranked(sweep, best_json_out, card_out, counts)
    if not ranked or not is_ranked(ranked[0], name):
        raise UserError(
            f"{sweep_path}: no run of sweep {sweep['sweep_id']} can be ranked by {ranking.describe()} "
            f"({len(rows)} runs: {counts or 'none'}); see {paths.LOGS}/agent-*.log and "
            f"{runs_dir}/*/metrics.json for the reasons"
        )
    if model_out is None:
        best = publish_user_best(ranked[0], sweep, runs_dir, best_json_out, ranking)
        write_user_model_card(card_out, best, sweep, counts)
        log.info(
            "best run %s by %s: %s", best["run_id"], ranking.describe(), best["metric"]["value"]
        )
        return best
    dataset = load_dataset(data_path, manifest_path)
    extra = {}
    if sweep["controller"] == "wandb":
        from snakesweep.aggregate.wandb_best import wandb_best_run

        extra["wandb_best_run"] = wandb_best_run(sweep)
    best = publish_best(
        ranked[0], sweep, runs_dir, dataset, model_out, best_json_out, ranking, extra
    )
    write_model_card(card_out, best, sweep, counts)
    log.info(
        "best run %s by %s: %s, test accuracy %.4f (onnxruntime)",
        best["run_id"],
        ranking.describe(),
        best["metric"]["value"],
        best["test_accuracy_onnxruntime"],
    )
    return best
