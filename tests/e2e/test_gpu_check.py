"""benchmarks/gpu_check.py, the script that proves the GPU path, and the GPU path itself.

The script's --cpu-only mode runs every step that needs no GPU, at tiny size, as CI's smoke test,
in a copy of this working tree (so a broken script is caught here, not in scarce GPU time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from workflow_helpers import REPO, copy_checkout  # it puts benchmarks/ on sys.path

# isort: split
import gpu_check  # benchmarks/gpu_check.py

from snakesweep import paths
from snakesweep.convnet.run import execute_run
from snakesweep.convnet.trainer import Setup
from snakesweep.convnet.wandb_run import Tracking
from snakesweep.data.dataset import DataFiles

SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"
STEPS = range(6)
NO_WANDB = Tracking(mode="disabled", project="snakesweep")


def run_gpu_check(
    checkout: Path, *args: str, env_extra: dict | None = None
) -> subprocess.CompletedProcess:
    """The copy's script, with the Python running the tests (the copy has no .venv)."""
    env = {**os.environ, "PYTHON": sys.executable, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", *args],
        check=False,
        cwd=checkout,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )


def report(folder: Path) -> dict:
    """The JSON report a run wrote into `folder`, with each step's entry by its number."""
    written = json.loads((folder / "gpu-check.json").read_text())
    return {**written, "steps": {step["step"]: step for step in written["steps"]}}


@pytest.mark.slow
def test_cpu_only_runs_every_step_and_leaves_the_checkout_alone(tmp_path, measurement):
    checkout = copy_checkout(tmp_path / "checkout")
    before = sorted(p.relative_to(checkout) for p in checkout.rglob("*"))
    mnist = {"MNIST_DIR": str(SHARED_MNIST)} if SHARED_MNIST.is_dir() else {}
    started = time.perf_counter()
    result = run_gpu_check(
        checkout,
        "--cpu-only",
        "--out",
        str(tmp_path / "report"),
        env_extra={"TMPDIR": str(tmp_path), **mnist},
    )
    measurement(f"benchmarks/gpu_check.py --cpu-only: {time.perf_counter() - started:.0f} s")
    out = result.stdout
    assert result.returncode == 0, out[-3000:]
    for step in STEPS:
        assert f"== step {step}: " in out and f"-- step {step} ok" in out, out[-3000:]
    assert "determinism: bit-identical" in out  # same seed and threads on the CPU: the same bytes
    assert "agent 0: device cpu" in out and "agent 1: device cpu" in out
    assert ("data: local source" if mnist else "no MNIST folder") in out
    assert out.rstrip().splitlines()[-1].startswith("all steps ok")
    written = report(tmp_path / "report")
    assert written["failed"] == [] and sorted(written["steps"]) == list(STEPS)
    assert written["steps"][3]["findings"]["bit_identical"] is True
    assert [a["device"] for a in written["steps"][4]["findings"]["pipelines"][0]["agents"]] == [
        "cpu",
        "cpu",
    ]
    assert (tmp_path / "report" / "gpu-check.txt").read_text() == out
    assert sorted(p.relative_to(checkout) for p in checkout.rglob("*")) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("gpu-check.")]  # scratch removed


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_without_a_gpu_the_gpu_run_fails_at_step_1(tmp_path):
    result = run_gpu_check(
        copy_checkout(tmp_path / "checkout"), env_extra={"TMPDIR": str(tmp_path)}
    )
    assert result.returncode == 1, result.stdout[-3000:]
    assert "-- step 1 FAILED" in result.stdout and "torch sees no CUDA GPU here" in result.stdout
    assert "== step 2" not in result.stdout
    (folder,) = tmp_path.glob("gpu-check-report-*")  # the default --out: beside the scratch folder
    written = report(folder)
    assert written["failed"] == [1] and written["steps"][1]["findings"]["cuda_available"] is False


def write_agent(workdir: Path, name: str, slot: int, start: str, end: str) -> None:
    """An agent's summary as a GPU agent job leaves it (snakesweep.agent.job)."""
    summary = workdir / paths.agent_output(name)
    summary.parent.mkdir(parents=True, exist_ok=True)
    summary.write_text(
        json.dumps(
            {
                "agent": name,
                "runs": [{"run_id": "0000-x"}],
                "device": "cuda:0",
                "gpu_slot": {"gpu": "0", "slot": slot, "of": 1},
                "device_held": [f"2026-01-01T{start}.000+00:00", f"2026-01-01T{end}.000+00:00"],
                "cuda_visible_devices": None,
            }
        )
    )


@pytest.mark.parametrize(("second_start", "clash"), [("10:00:30", True), ("10:01:30", False)])
def test_agents_report_flags_one_gpu_slot_held_by_two_agents_at_once(
    tmp_path, capsys, second_start, clash
):
    write_agent(tmp_path, "0", 1, "10:00:00", "10:01:00")
    write_agent(tmp_path, "1", 1, second_start, "10:02:00")
    check = gpu_check.Check("python", cpu_only=False, mnist=None, scratch=tmp_path)
    found = gpu_check.agents(check, tmp_path)
    out = capsys.readouterr().out
    assert "agent 0: device cuda:0 (GPU 0 slot 1 of 1)" in out
    assert found["agents"][0]["slot"] == {"gpu": "0", "slot": 1, "of": 1}
    assert check.verdicts[0].startswith("agent 0: device cuda:0")
    assert ("failed" in found, "held GPU 0 slot 1 at the same time" in out) == (clash, clash)


def test_compare_runs_names_what_differs(tiny_npz, tmp_path, capsys):
    run = tmp_path / "a"
    execute_run({"epochs": 1}, DataFiles(str(tiny_npz)), run, Setup(seed=0, threads=1), NO_WANDB)
    changed = tmp_path / "b"
    changed.mkdir()
    metrics = json.loads((run / paths.RUN_METRICS).read_text())
    metrics["final"]["test_accuracy"] += 0.5
    metrics["timing"]["train_seconds"] += 1  # timing differs between any two runs: not reported
    (changed / paths.RUN_METRICS).write_text(json.dumps(metrics))
    onnx = bytearray((run / paths.ONNX_FILE).read_bytes())
    onnx[100] ^= 1
    (changed / paths.ONNX_FILE).write_bytes(bytes(onnx))
    check = gpu_check.Check("python", cpu_only=True, mnist=None, scratch=tmp_path)
    found = gpu_check.compare_runs(check, run, changed)  # a difference is a finding, not a failure
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "metrics.json without timing/wandb: 1 values differ:" in lines
    accuracy = metrics["final"]["test_accuracy"]
    difference = f"final.test_accuracy: {accuracy - 0.5!r} != {accuracy!r}"
    assert [line for line in lines if line.startswith("  ")] == [f"  {difference}"]
    assert found["metrics_differences"] == [difference] and found["onnx_first_difference"] == 100
    assert "first difference at byte 100)" in out and "determinism: NOT bit-identical" in lines
    assert "failed" not in found and found["bit_identical"] is False


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_run_exports_and_verifies_the_same_onnx_twice(tiny_npz, tmp_path):
    """The whole run on a GPU, not only training
    (tests/unit/convnet/test_trainer.py::test_cuda_is_reproducible): the model is exported and
    checked with onnxruntime from CUDA weights, and the bytes repeat."""
    data, setup = DataFiles(str(tiny_npz)), Setup(seed=3, device="cuda", threads=1)
    a = execute_run({"epochs": 1}, data, tmp_path / "a", setup, NO_WANDB)
    b = execute_run({"epochs": 1}, data, tmp_path / "b", setup, NO_WANDB)
    assert a["state"] == b["state"] == "finished", (a["reason"], b["reason"])
    assert a["device"] == "cuda" and a["onnx"]["max_abs_diff"] <= 1e-4
    onnx_bytes = [(tmp_path / run / paths.ONNX_FILE).read_bytes() for run in ("a", "b")]
    assert onnx_bytes[0] == onnx_bytes[1]
    assert {k: v for k, v in a.items() if k not in ("timing", "wandb")} == {
        k: v for k, v in b.items() if k not in ("timing", "wandb")
    }
