# Aggregate stage: rank every run, publish the best model (re-verified with onnxruntime),
# draw the sweep views (parallel coordinates, importance, progress), and write a model card.


rule aggregate:
    input:
        sweep=paths.SWEEP,
        agents=agent_outputs(),
        dataset=paths.DATASET,
        manifest=paths.MANIFEST,
    output:
        model=report(
            paths.BEST_MODEL, caption="../report/best_model.rst", category="Best model"
        ),
        best=report(
            paths.BEST_RUN, caption="../report/best_run.rst", category="Best model"
        ),
        card=report(
            paths.MODEL_CARD, caption="../report/model_card.rst", category="Best model"
        ),
        leaderboard=report(
            paths.LEADERBOARD, caption="../report/leaderboard.rst", category="Sweep"
        ),
        plots=report(
            directory(paths.PLOTS_DIR),
            patterns=["{name}.png"],
            caption="../report/plots.rst",
            category="Sweep",
        ),
        importance=report(
            paths.IMPORTANCE, caption="../report/importance.rst", category="Sweep"
        ),
    log:
        log_path("aggregate"),
    benchmark:
        benchmark_path("aggregate")
    conda:
        CONDA_ENV
    params:
        runs_dir=paths.RUNS_DIR,
    script:
        "../scripts/aggregate.py"
