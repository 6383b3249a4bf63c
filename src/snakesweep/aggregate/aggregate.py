"""Aggregate a finished sweep into results/best/, the leaderboard, the plots and the sweep's
parameter importance."""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from pathlib import Path

from snakesweep import paths
from snakesweep.aggregate.best import publish_best, publish_unranked, publish_user_best
from snakesweep.aggregate.importance import parameter_importance, write_importance
from snakesweep.aggregate.leaderboard import build, is_ranked, parameter_names, write_leaderboard
from snakesweep.aggregate.model_card import write_model_card, write_user_model_card
from snakesweep.aggregate.pareto import objectives, pareto_plot, write_front
from snakesweep.aggregate.plots import write_plots
from snakesweep.aggregate.views import write_views
from snakesweep.data.dataset import DataFiles
from snakesweep.errors import UserError
from snakesweep.record.state import fold
from snakesweep.record.stores import read_events
from snakesweep.record.sweep_record import SweepRecord

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Outputs:
    """What the aggregate writes: best_run.json, the model card, the leaderboard, the plots'
    folder, the importance table, and the best model. `model` is None for the user's own
    code: its best model, if it wrote one, goes to `paths.BEST_MODEL` without being a declared
    output of the workflow (a run may write none)."""

    best: str
    card: str
    leaderboard: str
    plots: str
    importance: str
    model: str | None = None

    @classmethod
    def of(cls, output) -> Outputs:
        """The aggregate rule's outputs (`snakemake.output`)."""
        names = [field.name for field in dataclasses.fields(cls)]
        return cls(**{name: getattr(output, name, None) for name in names})


def aggregate(
    sweep_path: str | Path, data: DataFiles | None, runs_dir: str | Path, out: Outputs
) -> dict:
    """Rank every run of the sweep, write the leaderboard, the views and the importance table,
    and publish the best run (and its model) with its model card. `data` is the data stage's
    output, on which the ConvNet's best model is scored again; None for the user's code."""
    sweep = SweepRecord.load(sweep_path)
    rows, ranked, text = build(sweep, fold(read_events(sweep.store)), runs_dir)
    write_leaderboard(out.leaderboard, text)
    _write_views(sweep, rows, ranked, out)
    counts = dict(Counter(row["state"] for row in rows))
    log.info("sweep %s: %d runs (%s)", sweep.sweep_id, len(rows), counts)
    ranking = sweep.ranking
    if ranking is None:
        log.info("the sweep file names no metric and the objective has none: no run is ranked")
        return publish_unranked(sweep, out, counts)
    for row in ranked:
        if not is_ranked(row, ranking.name):
            why = row["reason"] or f"no value of {ranking.name}"
            log.warning("run %s %s: %s (not ranked)", row["run_id"], row["state"], why)
    if not ranked or not is_ranked(ranked[0], ranking.name):
        raise UserError(
            f"{sweep_path}: no run of sweep {sweep.sweep_id} can be ranked by "
            f"{ranking.describe()} ({len(rows)} runs: {counts or 'none'}); see "
            f"{paths.LOGS}/agent-*.log and {runs_dir}/*/metrics.json for the reasons"
        )
    if out.model is None:
        best = publish_user_best(ranked[0], sweep, runs_dir, out)
        write_user_model_card(out.card, best, sweep, counts)
        log.info(
            "best run %s by %s: %s", best["run_id"], ranking.describe(), best["metric"]["value"]
        )
        return best
    extra = {}
    if sweep.controller == "wandb":
        from snakesweep.aggregate.wandb_best import wandb_best_run

        extra["wandb_best_run"] = wandb_best_run(sweep)
    best = publish_best(ranked[0], sweep, runs_dir, data.load(), out, extra)
    write_model_card(out.card, best, sweep, counts)
    log.info(
        "best run %s by %s: %s, test accuracy %.4f (onnxruntime)",
        best["run_id"],
        ranking.describe(),
        best["metric"]["value"],
        best["test_accuracy_onnxruntime"],
    )
    return best


def _write_views(sweep: SweepRecord, rows: list[dict], ranked: list[dict], out: Outputs) -> None:
    """The plots, the parameter importance table and the sweep views."""
    name = sweep.ranking.name if sweep.ranking else None
    goal = sweep.ranking.goal if sweep.ranking else None
    parameters = parameter_names(sweep.config, rows)
    write_plots(rows, ranked, name, parameters, out.plots)
    if sweep_objectives := objectives(sweep.config):
        pareto_plot(rows, sweep_objectives, Path(out.plots) / Path(paths.PARETO_PLOT).name)
        write_front(Path(out.best).parent / Path(paths.PARETO_FRONT).name, rows, sweep_objectives)
    importance = parameter_importance(rows, name, parameters, sweep.seed)
    write_importance(out.importance, importance)
    write_views(rows, name, goal, parameters, importance, out.plots)
