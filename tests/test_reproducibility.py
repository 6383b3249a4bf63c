"""The reproducibility gate: the default pipeline, run twice in two fresh copies, gives
byte-identical results; another seed gives other results.

The data source is pinned to the bundled sample, which is what the default `auto` falls back
to without network (tests do not use the network)."""

import pytest

from workflow_helpers import copy_workflow, run_pipeline, write_config

pytestmark = pytest.mark.slow

OUTPUTS = ("results/leaderboard.csv", "results/best/model.onnx")


def _default_pipeline(work, **overrides):
    run_pipeline(work, write_config(work, {"data": {"source": "bundled"}, **overrides}))
    return {path: (work / path).read_bytes() for path in OUTPUTS}


def test_default_pipeline_is_bit_reproducible_and_the_seed_matters(tmp_path, measurement):
    import time

    started = time.monotonic()
    first = _default_pipeline(copy_workflow(tmp_path / "first"))
    measurement(f"default pipeline (6 runs, 2 agents, data stage included): {time.monotonic() - started:.1f} s")
    second = _default_pipeline(copy_workflow(tmp_path / "second"))
    assert first == second
    other = _default_pipeline(copy_workflow(tmp_path / "other"), seed=1)
    for path in OUTPUTS:
        assert other[path] != first[path], path
