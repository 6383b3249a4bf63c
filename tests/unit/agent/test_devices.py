"""Device choice and GPU slots. There is no GPU here, so the GPU count is given to the code;
the slot locks themselves are real flocks held by real processes."""

import logging
import signal
import subprocess
import sys
import time

import pytest

from snakesweep.agent import devices
from snakesweep.errors import UserError


def test_cuda_without_a_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(UserError, match="agents.device is cuda but torch sees no CUDA GPU"):
        with devices.acquire_device("cuda", "unused"):
            pytest.fail("no device may be handed out")


def test_auto_falls_back_to_cpu_and_says_why(monkeypatch, caplog):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    caplog.set_level(logging.INFO)
    assert devices.resolve_kind("auto", gpus=0) == "cpu"
    assert "CUDA_VISIBLE_DEVICES=1 was assigned but torch sees no usable CUDA device" in caplog.text
    assert devices.resolve_kind("cpu", gpus=4) == "cpu"
    assert devices.resolve_kind("auto", gpus=1) == "cuda"
    with pytest.raises(UserError, match="agents.device must be auto, cpu or cuda"):
        devices.resolve_kind("tpu", gpus=0)


def test_under_slurm_the_assigned_gpu_is_used(monkeypatch, tmp_path):
    monkeypatch.setattr(devices, "cuda_device_count", lambda: 1)
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    with devices.acquire_device("auto", tmp_path) as device:
        assert device.name == "cuda:0"
    assert not list(tmp_path.iterdir())  # no local slot bookkeeping under SLURM


def test_agents_take_distinct_gpu_slots(monkeypatch, tmp_path):
    monkeypatch.setattr(devices, "cuda_device_count", lambda: 2)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with (
        devices.acquire_device("cuda", tmp_path, per_gpu=2) as a,
        devices.acquire_device("cuda", tmp_path, per_gpu=2) as b,
    ):
        with devices.acquire_device("cuda", tmp_path, per_gpu=2) as c:
            assert [a.name, b.name, c.name] == ["cuda:0", "cuda:0", "cuda:1"]
            assert [a.slot, b.slot, c.slot] == [1, 2, 1]


HOLDER = """
import sys, time
from snakesweep.agent import devices
devices.cuda_device_count = lambda: 1
with devices.acquire_device("cuda", sys.argv[1], per_gpu=1) as d:
    print(d, flush=True)
    time.sleep(600)
"""


def test_a_dead_agents_slot_is_freed_by_the_kernel(monkeypatch, tmp_path):
    monkeypatch.setattr(devices, "cuda_device_count", lambda: 1)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "cuda:0"
    got = []

    def take():
        with devices.acquire_device("cuda", tmp_path, per_gpu=1, poll_seconds=0.1) as d:
            got.append((d, time.monotonic()))

    import threading

    waiter = threading.Thread(target=take)
    waiter.start()
    time.sleep(0.5)
    assert not got  # the only slot is held
    killed_at = time.monotonic()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    waiter.join(timeout=10)
    assert got and got[0][0].name == "cuda:0" and got[0][1] >= killed_at
