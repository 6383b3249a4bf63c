"""Study factories and search spaces that the custom-scheduler tests name in sweep files."""

import optuna
from optuna.trial import TrialState


def tpe(sweep):
    return optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=5))


def tpe_unseeded(sweep):
    return optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler())


def tpe_hyperband(sweep):
    return optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=5, n_startup_trials=4),
        pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=8),
    )


def nsga2(sweep):
    return optuna.create_study(
        directions=["minimize", "minimize"],
        sampler=optuna.samplers.NSGAIISampler(seed=3, population_size=4),
    )


def stops_after_three(sweep):
    """A study with a terminator: the sweep ends once three trials are complete."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    return study, lambda study: len(study.get_trials(states=(TrialState.COMPLETE,))) >= 3


def maximizing(sweep):
    return optuna.create_study(direction="maximize")


def not_a_study(sweep):
    return {"sampler": "tpe"}


def conditional(trial):
    optimizer = trial.suggest_categorical("optimizer", ["adam", "sgd"])
    config = {"optimizer": optimizer, "lr": trial.suggest_float("lr", 1e-4, 1e-1, log=True)}
    if optimizer == "sgd":
        config["momentum"] = trial.suggest_float("momentum", 0.0, 0.99)
    return config
