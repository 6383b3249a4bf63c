"""The data stage run by the real snakemake, in a scratch copy of the workflow."""

import json
import socket

import pytest
from workflow_helpers import copy_workflow, snakemake, write_config

pytestmark = pytest.mark.slow

OUTPUTS = ("results/data/mnist.npz", "results/data/manifest.json")


def _dead_mirror():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/"


def _run(workdir, overrides, *extra):
    config = write_config(workdir, overrides)
    return snakemake(workdir, *OUTPUTS, "--cores", "2", *extra, "--configfile", str(config))


def test_auto_falls_back_offline_says_so_and_second_run_has_nothing_to_do(tmp_path):
    work = copy_workflow(tmp_path / "w")
    offline = {"data": {"source": "auto", "mirrors": [_dead_mirror()]}}
    first = _run(work, offline)
    assert first.returncode == 0, first.stdout
    assert first.stdout.count("NO MNIST MIRROR ANSWERED") == 1
    manifest = json.loads((work / "results/data/manifest.json").read_text())
    assert manifest["source"]["source"] == "bundled"
    assert "download failed" in manifest["warning"]
    assert manifest["counts"]["test"]["total"] == 1000
    assert "NO MNIST MIRROR ANSWERED" in (work / "results/logs/download_mnist.log").read_text()
    assert (work / "results/benchmarks/subsample.tsv").exists()

    second = _run(work, offline)
    assert second.returncode == 0, second.stdout
    assert "Nothing to be done" in second.stdout


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    runs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        work = copy_workflow(tmp_path / name)
        result = _run(work, {"seed": seed, "data": {"source": "bundled"}})
        assert result.returncode == 0, result.stdout
        runs[name] = {path: (work / path).read_bytes() for path in OUTPUTS}
    assert runs["a"] == runs["b"]
    for path in OUTPUTS:
        assert runs["a"][path] != runs["c"][path]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"data": {"fraction": 1.5}},
            "invalid config at data.fraction: 1.5 is greater than the maximum of 1",
        ),
        ({"seed": "x"}, "invalid config at seed: 'x' is not of type 'integer'"),
        (
            {"data": {"sourec": "bundled"}},
            "invalid config at data: Additional properties are not allowed ('sourec'",
        ),
        ({"data": {"source": "web"}}, "invalid config at data.source: 'web' is not one of"),
    ],
)
def test_schema_rejects_bad_config_before_any_job(tmp_path, overrides, expected):
    work = copy_workflow(tmp_path / "w")
    result = _run(work, overrides, "--dry-run")
    assert result.returncode != 0
    assert expected in result.stdout
    assert "test-config.yaml" in result.stdout
    assert not (work / "results").exists() and not (work / "resources").exists()


def test_corrupted_local_copy_stops_the_data_stage_with_one_line(tmp_path):
    work = copy_workflow(tmp_path / "w")
    copy = tmp_path / "staged" / "MNIST" / "raw"
    copy.mkdir(parents=True)
    for name in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        (copy / name).write_bytes(
            b"\x00\x00\x08\x01\x00\x00\x00\x00"
        )  # valid IDX header, not MNIST's bytes
    result = _run(work, {"data": {"source": "local", "path": str(tmp_path / "staged")}})
    assert result.returncode != 0
    expected = f"{copy / 'train-images-idx3-ubyte'}: MD5 "
    lines = [line for line in result.stdout.splitlines() if expected in line]
    assert lines and "is not the expected 6bbc9ace898e44ae57da46a324031adb" in lines[0], (
        result.stdout
    )
    assert "Traceback" not in result.stdout
    assert not (work / "results" / "data").exists() or not any(
        (work / "results" / "data").iterdir()
    )
    assert not (work / "resources" / "mnist" / "raw.npz").exists()


def test_local_source_needs_a_path_before_any_job(tmp_path):
    work = copy_workflow(tmp_path / "w")
    result = _run(work, {"data": {"source": "local"}}, "--dry-run")
    assert result.returncode != 0
    assert "invalid config at data.path: None is not of type 'string'" in result.stdout
