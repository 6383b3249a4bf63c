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
        "regularization": {"parameters": {"dropout": {"min": 0.0, "max": 0.5}, "weight_decay": {"value": 0.0}}},
        "epochs": {"distribution": "int_uniform", "min": 1, "max": 9},
    },
}


@pytest.mark.parametrize("seed", [0, 7])
def test_the_fast_random_draw_is_the_engines_own(seed):
    sampler = engine.RandomSampler(RANDOM)
    for index in range(40):
        assert engine.suggest(RANDOM, [], seed, index, sampler) == engine.suggest(RANDOM, [], seed, index)


def test_suggestion_k_depends_on_the_seed_and_k_only():
    first = [engine.suggest(RANDOM, [], 3, k) for k in range(5)]
    assert [engine.suggest(RANDOM, [], 3, k) for k in reversed(range(5))] == first[::-1]
    assert engine.suggest(RANDOM, [], 4, 0) != first[0]
    assert len({str(s) for s in first}) == 5
