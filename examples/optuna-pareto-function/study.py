"""The sweep's Optuna study: NSGA-II on two objectives (`scheduler.optimizer` in sweep.yaml)."""

import optuna


def study(sweep):
    """Called with W&B's SweepInfo; the directions must be the goals of the sweep's `metrics`."""
    return optuna.create_study(
        directions=["minimize", "minimize"],
        sampler=optuna.samplers.NSGAIISampler(seed=2, population_size=4),
    )
