"""Fixtures that more than one end-to-end module uses, each run once per session."""

import pytest
from workflow_helpers import copy_workflow, run_pipeline


@pytest.fixture(scope="session")
def adaptive_one_agent(tmp_path_factory):
    """The adaptive sweep (bayes + hyperband, tiny) run by one agent on the file store: the
    reference that the adaptive reproducibility tests and the PostgreSQL store's compare with."""
    from test_adaptive_reproducibility import _config, adaptive_sweep

    work = copy_workflow(tmp_path_factory.mktemp("adaptive1") / "w")
    run_pipeline(work, _config(work, 1, adaptive_sweep(), epochs=3), "--cores", "2")
    return work
