"""The sweep's Optuna study and its define-by-run search space (`scheduler` in sweep.yaml)."""

import optuna


def study(sweep):
    """`scheduler.optimizer`: called with W&B's SweepInfo; TPE, and Hyperband to stop runs."""
    return optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=1, n_startup_trials=4),
        pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=9, reduction_factor=3),
    )


def space(trial):
    """`scheduler.search_space`: `momentum` is only asked for when the optimizer is sgd."""
    optimizer = trial.suggest_categorical("optimizer", ["adam", "sgd"])
    config = {
        "optimizer": optimizer,
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True),
    }
    if optimizer == "sgd":
        config["momentum"] = trial.suggest_float("momentum", 0.0, 0.99)
    return config
