"""Rule aggregate: leaderboard, best model, plots, model card (see snakesweep.aggregate)."""

from snakesweep.logs import job_logging  # first: it quiets library warnings raised on import

# isort: split
from snakesweep.aggregate.aggregate import aggregate

with job_logging(snakemake.log[0]):
    aggregate(
        sweep_path=snakemake.input.sweep,
        data_path=snakemake.input.dataset,
        manifest_path=snakemake.input.manifest,
        runs_dir=snakemake.params.runs_dir,
        model_out=getattr(snakemake.output, "model", None),
        best_json_out=snakemake.output.best,
        card_out=snakemake.output.card,
        leaderboard_out=snakemake.output.leaderboard,
        plots_dir=snakemake.output.plots,
        importance_out=snakemake.output.importance,
    )
