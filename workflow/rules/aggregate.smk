# Aggregate stage: rank every run, publish the best model (re-verified with onnxruntime),
# draw the sweep views (parallel coordinates, importance, progress), and write a model card.


rule aggregate:
    input:
        **data_inputs(),
        sweep=paths.SWEEP,
        agents=agent_outputs(),
    output:
        **aggregate_outputs(),
    log:
        log_path("aggregate"),
    benchmark:
        benchmark_path("aggregate")
    localrule: True
    conda:
        CONDA_ENV
    params:
        runs_dir=paths.RUNS_DIR,
    script:
        "../scripts/aggregate.py"
