"""The reproducibility gate: the default pipeline, run in two fresh checkouts of this working
tree (in different directories, each running its own copy of the package), gives
byte-identical results; another seed gives other results.

A checkout here is what a clone would hold (`copy_checkout`: tracked files and new ones git does
not ignore); copying rather than `git clone` keeps uncommitted changes under test. The data source
is pinned to the bundled sample, which is what the default `auto` falls back to without network
(tests do not use the network)."""

import time

import pytest
from workflow_helpers import checkout_env, copy_checkout, run_pipeline, write_config

pytestmark = pytest.mark.slow

OUTPUTS = ("results/leaderboard.csv", "results/best/model.onnx")


def _default_pipeline(checkout, **overrides):
    config = write_config(checkout, {"data": {"source": "bundled"}, **overrides})
    run_pipeline(checkout, config, env=checkout_env(checkout))
    return {path: (checkout / path).read_bytes() for path in OUTPUTS}


def test_default_pipeline_is_bit_reproducible_across_checkouts_and_the_seed_matters(
    tmp_path, measurement
):
    started = time.monotonic()
    first = _default_pipeline(copy_checkout(tmp_path / "first"))
    measurement(
        "default pipeline (6 runs, 2 agents, data stage included): "
        f"{time.monotonic() - started:.1f} s"
    )
    second = _default_pipeline(copy_checkout(tmp_path / "second"))
    assert first == second
    other = _default_pipeline(copy_checkout(tmp_path / "other"), seed=1)
    for path in OUTPUTS:
        assert other[path] != first[path], path
