"""Which device an agent trains on.

Snakemake does not set `CUDA_VISIBLE_DEVICES` for local jobs (snakemake/snakemake#281), so on a GPU
box N agent jobs would all land on GPU 0. Each agent therefore takes a slot (`per_gpu` slots
per visible GPU) with a non-blocking `flock` on a per-slot file: the kernel frees it when the
agent dies, so a crashed agent never leaks its GPU. Under SLURM the job already sees only the
GPU(s) SLURM gave it, and the agent simply uses them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from snakesweep.errors import UserError

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Device:
    """What an agent trains on: `name` is "cpu" or "cuda:N" (N counted among the GPUs the
    agent sees); for a GPU slot taken here, the GPU's name, the slot and the slots per GPU."""

    name: str
    gpu: str | None = None
    slot: int | None = None
    slots: int | None = None

    def __str__(self) -> str:
        return self.name

    def slot_record(self) -> dict | None:
        """The slot, for the agent's summary (None when no local slot was taken)."""
        if self.slot is None:
            return None
        return {"gpu": self.gpu, "slot": self.slot, "of": self.slots}


def cuda_device_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def resolve_kind(requested: str, gpus: int, config_file: str = "config") -> str:
    """`cpu` or `cuda` for `agents.device` (auto, cpu or cuda), given the GPUs torch can use."""
    if requested not in ("auto", "cpu", "cuda"):
        raise UserError(
            f"{config_file}: agents.device must be auto, cpu or cuda, got {requested!r}"
        )
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if requested == "cuda" and gpus == 0:
        raise UserError(
            f"{config_file}: agents.device is cuda but torch sees no CUDA GPU "
            f"(CUDA_VISIBLE_DEVICES={visible!r}, torch.cuda.is_available() is False); "
            "set agents.device: auto or cpu, or run on a GPU node"
        )
    if requested == "auto" and gpus == 0:
        if visible:
            log.warning(
                "CUDA_VISIBLE_DEVICES=%s was assigned but torch sees no usable CUDA device: "
                "training on the CPU",
                visible,
            )
        return "cpu"
    return "cpu" if requested == "cpu" else "cuda"


@contextlib.contextmanager
def acquire_device(
    requested: str,
    slots_dir: str | Path,
    per_gpu: int = 1,
    poll_seconds: float = 5.0,
    config_file: str = "config",
) -> Iterator[Device]:
    """Hold a device for the agent's lifetime."""
    gpus = cuda_device_count()
    kind = resolve_kind(requested, gpus, config_file)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if kind == "cpu":
        log.info("device: cpu (agents.device=%s, CUDA_VISIBLE_DEVICES=%s)", requested, visible)
        yield Device("cpu")
        return
    if os.environ.get("SLURM_JOB_ID") and visible:
        log.info("device: cuda:0 as assigned by SLURM (CUDA_VISIBLE_DEVICES=%s)", visible)
        yield Device("cuda:0", gpu=visible)
        return
    names = visible.split(",") if visible else [str(i) for i in range(gpus)]
    slots = Path(slots_dir)
    slots.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        for index in range(gpus):
            for slot in range(per_gpu):
                lock = FileLock(str(slots / f"gpu{names[index]}-slot{slot}.lock"))
                try:
                    lock.acquire(timeout=0)
                except Timeout:
                    continue
                try:
                    log.info(
                        "device: cuda:%d (GPU %s, slot %d of %d)",
                        index,
                        names[index],
                        slot + 1,
                        per_gpu,
                    )
                    yield Device(f"cuda:{index}", names[index], slot + 1, per_gpu)
                finally:
                    lock.release()
                return
        if not waited:
            log.info("all %d GPU slots are taken; waiting for one to free up", gpus * per_gpu)
            waited = True
        time.sleep(poll_seconds)
