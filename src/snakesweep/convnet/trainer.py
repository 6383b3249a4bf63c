"""The training loop: one model, one config, one seed, nothing else.

Why it is shaped this way:

* The whole split lives on the device as one float tensor, converted from uint8 once, and
  batches are taken by indexing with a seeded permutation. On MNIST-sized data a DataLoader
  with per-sample `ToTensor`/`Normalize` spends most of its time in Python and worker IPC;
  indexing a resident tensor is one kernel (see benchmarks/train_throughput.py).
* Every source of randomness is a child seed of the run seed, by name: weight init ("init"),
  the per-epoch shuffle ("shuffle"), dropout (the global generator, re-seeded with the child
  seed "dropout" once the model is built). Metrics and weights therefore depend only on seed,
  config, data, thread count, device and library versions.
* A loss that becomes NaN/inf ends the run as "failed" with the first bad step named: in a
  sweep that is an outcome of the hyperparameters, not a crash of the agent. The check runs
  once per epoch on losses kept on the device, so a GPU never waits for the host each step.
* `on_epoch` lets a caller (hyperband) stop a run early; the stopped model is still returned.

This module knows nothing about W&B or ONNX so it can be tested on its own.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from snakesweep.callbacks import OnEpoch
from snakesweep.convnet import checkpoint
from snakesweep.convnet.model import build_model
from snakesweep.convnet.run_config import resolve_run_config
from snakesweep.errors import UserError
from snakesweep.seeding import derive_seed, seed_everything

log = logging.getLogger("snakesweep.train")

EVAL_BATCH = 1000


@dataclass
class TrainResult:
    """What a run produced. `model` is in eval mode on the training device."""

    model: nn.Module
    config: dict
    state: str  # "finished", "stopped" or "failed"
    reason: str | None
    history: list[dict]
    metrics: dict  # test_loss, test_accuracy, epochs_completed, steps (absent test_* if failed)
    timing: dict = field(default_factory=dict)  # *_seconds and samples_per_second: never compared


def resolve_device(device: str) -> torch.device:
    """`auto` picks CUDA when present; asking for CUDA without one is a UserError, before any
    work."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise UserError(
                f"device {device!r}: no CUDA GPU is available to torch here; use --device cpu or "
                "auto"
            )
        return torch.device(device)
    if device == "cpu":
        return torch.device("cpu")
    raise UserError(f"device must be auto, cpu or cuda, got {device!r}")


def to_tensors(dataset: Mapping[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    """uint8 (N, 28, 28) images become float (N, 1, 28, 28) in [0, 1], once, on the device."""
    tensors = {}
    for split in ("train", "val", "test"):
        x = torch.from_numpy(np.ascontiguousarray(dataset[f"x_{split}"])).to(device)
        tensors[f"x_{split}"] = x.unsqueeze(1).float().div_(255.0)
        tensors[f"y_{split}"] = (
            torch.from_numpy(np.ascontiguousarray(dataset[f"y_{split}"])).to(device).long()
        )
    return tensors


def make_optimizer(model: nn.Module, config: dict) -> torch.optim.Optimizer:
    params, lr, wd = model.parameters(), config["learning_rate"], config["weight_decay"]
    if config["optimizer"] == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if config["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=config["momentum"], weight_decay=wd)
    if config["optimizer"] == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=config["momentum"], weight_decay=wd)
    raise ValueError(
        f"make_optimizer has no branch for the run schema's optimizer {config['optimizer']!r}"
    )


@torch.inference_mode()
def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = EVAL_BATCH
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over a whole split, in large batches."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=x.device)
    correct = torch.zeros((), dtype=torch.int64, device=x.device)
    for start in range(0, len(x), batch):
        logits = model(x[start : start + batch])
        target = y[start : start + batch]
        loss_sum += F.cross_entropy(logits, target, reduction="sum").double()
        correct += (logits.argmax(dim=1) == target).sum()
    model.train(was_training)
    return float(loss_sum) / len(x), int(correct) / len(x)


def place_data(
    dataset: Mapping[str, np.ndarray], dev: torch.device, channels_last: bool
) -> dict[str, torch.Tensor]:
    """Every split on the device as float images in the layout the model runs in."""
    layout = torch.channels_last if channels_last else torch.contiguous_format
    data = to_tensors(dataset, dev)
    for split in ("train", "val", "test"):
        data[f"x_{split}"] = data[f"x_{split}"].contiguous(memory_format=layout)
    return data


@contextmanager
def timed(timing: dict, key: str, device: torch.device | None = None) -> Iterator[None]:
    """Add the block's seconds to `timing[key]`, even when it raises. On a GPU, kernels run
    asynchronously: the clock stops once they are done, so they count where they ran."""
    started = time.perf_counter()
    try:
        yield
    finally:
        if device is not None and device.type == "cuda":
            torch.cuda.synchronize(device)
        timing[key] = timing.get(key, 0.0) + time.perf_counter() - started


@dataclass
class Clock:
    """Seconds spent training and evaluating, and samples trained: a run's throughput figures."""

    device: torch.device
    seconds: dict = field(default_factory=lambda: {"train_seconds": 0.0, "eval_seconds": 0.0})
    samples: int = 0

    def timing(self, kind: str):
        return timed(self.seconds, f"{kind}_seconds", self.device)

    def as_dict(self) -> dict:
        train_seconds = self.seconds["train_seconds"]
        rate = self.samples / train_seconds if train_seconds > 0 else 0.0
        return {**self.seconds, "samples_per_second": rate}


def train_epoch(model, optimizer, x, y, batches) -> torch.Tensor:
    """One pass over `batches` (index tensors into `x`, `y`); the per-step summed losses, kept
    on the device."""
    model.train()
    losses = []
    for idx in batches:
        loss = F.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach() * len(idx))
    return torch.stack(losses)


def divergence(per_step: torch.Tensor, epoch: int, steps_before: int) -> str | None:
    """Why the run failed if a step's loss is NaN/inf (naming the first bad step), else None."""
    finite = torch.isfinite(per_step)
    if bool(finite.all()):
        return None
    bad = int((~finite).nonzero()[0])
    kind = "nan" if bool(torch.isnan(per_step[bad])) else "inf"
    return f"loss became {kind} at epoch {epoch} step {steps_before + bad + 1}"


def _batches(order: torch.Tensor, batch_size: int, epoch: int, progress: bool):
    """The epoch's batches: slices of the shuffled `order`, with a tqdm bar if `progress`."""
    batches = (order[start : start + batch_size] for start in range(0, len(order), batch_size))
    if not progress:
        return batches
    from tqdm import tqdm

    total = math.ceil(len(order) / batch_size)
    return tqdm(batches, desc=f"epoch {epoch}", total=total, leave=False, file=sys.stderr)


def _seeded_setup(config: dict, seed: int, dev: torch.device, channels_last: bool):
    """Model, optimizer and shuffle generator, each from its own child seed of the run seed."""
    torch.manual_seed(derive_seed(seed, "init"))
    model = build_model(config).to(
        dev, memory_format=torch.channels_last if channels_last else torch.contiguous_format
    )
    optimizer = make_optimizer(model, config)
    torch.manual_seed(derive_seed(seed, "dropout"))  # the global generator drives dropout
    return model, optimizer, torch.Generator().manual_seed(derive_seed(seed, "shuffle"))


@dataclass(frozen=True)
class Setup:
    """How a run trains, besides its config: its seed, the device, torch's thread count (results
    depend on it), the memory layout (`channels_last` stores images and conv weights NHWC,
    which oneDNN runs faster on CPU; deterministic, but other last bits than NCHW), and a tqdm
    bar over batches (the CLI shows one on a terminal)."""

    seed: int
    device: str = "cpu"
    threads: int | None = None
    channels_last: bool = True
    progress: bool = False
    checkpoint: str | None = None  # saved after every epoch, and resumed from when it is there


def train(
    run_config: Mapping[str, Any] | None,
    dataset: Mapping[str, np.ndarray],
    setup: Setup,
    on_epoch: OnEpoch | None = None,
) -> TrainResult:
    """Train the ConvNet a run config describes on `dataset` (what `load_dataset` returns); see
    the module docstring for the contract."""
    config, dev = resolve_run_config(run_config), resolve_device(setup.device)
    seed_everything(setup.seed, setup.threads)
    data = place_data(dataset, dev, setup.channels_last)
    model, optimizer, shuffle = _seeded_setup(config, setup.seed, dev, setup.channels_last)
    saved = Path(setup.checkpoint) if setup.checkpoint else None
    history, step = checkpoint.resume(saved, model, optimizer, shuffle, on_epoch)
    state, reason, clock = "finished", None, Clock(dev)
    for epoch in range(len(history) + 1, config["epochs"] + 1):
        order = torch.randperm(len(data["x_train"]), generator=shuffle).to(dev)
        with clock.timing("train"):
            batches = _batches(order, config["batch_size"], epoch, setup.progress)
            per_step = train_epoch(model, optimizer, data["x_train"], data["y_train"], batches)
        clock.samples += len(order)
        reason = divergence(per_step, epoch, step)
        step += len(per_step)
        if reason is not None:
            state = "failed"
            log.error("%s", reason)
            break
        with clock.timing("eval"):
            row = _epoch_row(model, data, epoch, per_step)
        history.append(row)
        if saved is not None:
            checkpoint.save(saved, model, optimizer, shuffle, history, step)
        log.info("epoch %d/%d %s", epoch, config["epochs"], _described(row))
        if on_epoch is not None and on_epoch(epoch, dict(row)) and epoch < config["epochs"]:
            state, reason = (
                "stopped",
                f"stopped early after epoch {epoch} (the sweep's early termination)",
            )
            log.info("%s", reason)
            break
    metrics: dict[str, Any] = {"epochs_completed": len(history), "steps": step}
    if state != "failed":
        with clock.timing("eval"):
            metrics["test_loss"], metrics["test_accuracy"] = evaluate(
                model, data["x_test"], data["y_test"]
            )
    model.eval()
    return TrainResult(model, config, state, reason, history, metrics, clock.as_dict())


def _epoch_row(model, data: dict, epoch: int, per_step: torch.Tensor) -> dict:
    """The epoch's metrics: the mean training loss, and the validation loss and accuracy."""
    val_loss, val_accuracy = evaluate(model, data["x_val"], data["y_val"])
    return {
        "epoch": epoch,
        "train_loss": float(per_step.double().sum()) / len(data["x_train"]),
        "val_loss": val_loss,
        "val_accuracy": val_accuracy,
    }


def _described(row: dict) -> str:
    return " ".join(f"{key} {value:.4f}" for key, value in row.items() if key != "epoch")
