"""The engine wrapper: suggestions are the `sweeps` engine's own, seeded by index."""

import pytest

from snakesweep.sweep import engine

RANDOM = {
    "method": "random",
    "parameters": {
        "learning_rate": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
        "batch_size": {"values": [32, 64, 128]},
        "momentum": {"distribution": "q_uniform", "min": 0.0, "max": 0.9, "q": 0.1},
        "optimizer": {"values": ["adam", "sgd"], "probabilities": [0.3, 0.7]},
        "regularization": {
            "parameters": {"dropout": {"min": 0.0, "max": 0.5}, "weight_decay": {"value": 0.0}}
        },
        "epochs": {"distribution": "int_uniform", "min": 1, "max": 9},
    },
}


@pytest.mark.parametrize("seed", [0, 7])
def test_the_fast_random_draw_is_the_engines_own(seed):
    sampler = engine.RandomSampler(RANDOM)
    for index in range(40):
        assert engine.suggest(RANDOM, [], seed, index, sampler) == engine.suggest(
            RANDOM, [], seed, index
        )


def test_suggestion_k_depends_on_the_seed_and_k_only():
    first = [engine.suggest(RANDOM, [], 3, k) for k in range(5)]
    assert [engine.suggest(RANDOM, [], 3, k) for k in reversed(range(5))] == first[::-1]
    assert engine.suggest(RANDOM, [], 4, 0) != first[0]
    assert len({str(s) for s in first}) == 5


GRID = {
    "method": "grid",
    "parameters": {
        "batch_size": {"values": [64, 128]},
        "opt": {"parameters": {"lr": {"values": [0.1, 0.01, 0.001]}}},
    },
}


@pytest.mark.parametrize("config", [GRID, RANDOM], ids=["grid", "random"])
def test_grid_and_random_suggestions_are_the_engines_own(config):
    import random

    import numpy as np
    import sweeps

    seen, ours = [], []
    for k in range(8):
        random.seed(k), np.random.seed(k)
        mine = engine.next_run(config, seen)
        random.seed(k), np.random.seed(k)
        theirs = sweeps.next_run(config, seen, validate=False)
        assert (mine and mine.config) == (theirs and theirs.config)
        if mine is not None:
            seen.append(sweeps.SweepRun(name=f"r{k}", state="finished", config=mine.config))
        ours.append(mine)
    if config is GRID:  # the grid ran out after its 6 points, as the engine's does
        assert sum(run is not None for run in ours) == 6


TRAINER_GRID = {
    "method": "grid",
    "parameters": {"batch_size": {"values": [64]}, "learning_rate": {"values": [0.1, 0.01]}},
}


def test_a_grid_or_random_sweep_does_not_import_scikit_learn():
    """The engine's own `next_runs` imports its bayes module (and scikit-learn) for any method:
    half a second of every register and agent job."""
    import subprocess
    import sys

    code = (
        "import sys; from snakesweep.sweep import engine, spec; "
        f"engine.warm_up({GRID!r}); engine.suggest({RANDOM!r}, [], 0, 0); "
        f"spec.validate_sweep({TRAINER_GRID!r}, 'x'); "
        "print('sklearn' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"
