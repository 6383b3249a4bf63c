"""The training loop: one model, one config, one seed, nothing else.

Why it is shaped this way:

* The whole split lives on the device as one float tensor, converted from uint8 once, and
  batches are taken by indexing with a seeded permutation. On MNIST-sized data a DataLoader
  with per-sample `ToTensor`/`Normalize` spends most of its time in Python and worker IPC;
  indexing a resident tensor is one kernel (see benchmarks/train_throughput.py).
* Every source of randomness is a child seed of the run seed, by name: weight init ("init"),
  the per-epoch shuffle ("shuffle"), dropout (the global generator, re-seeded with the child
  seed "dropout" once the model is built). Metrics and weights therefore depend only on seed, config, data, thread
  count, device and library versions.
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
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from snakesweep.errors import UserError
from snakesweep.seeding import derive_seed, seed_everything
from snakesweep.train.model import build_model
from snakesweep.train.run_config import resolve_run_config

log = logging.getLogger("snakesweep.train")

EVAL_BATCH = 1000

# `on_epoch(epoch, metrics) -> bool`: called after each epoch with that epoch's metrics
# (epoch, train_loss, val_loss, val_accuracy); returning True stops the run after this epoch.
OnEpoch = Callable[[int, dict], bool]


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
    """ "auto" picks CUDA when present; asking for CUDA without one is a UserError, before any work."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise UserError(
                f"device {device!r}: no CUDA GPU is available to torch here; use --device cpu or auto"
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


@dataclass
class Clock:
    """Seconds spent training and evaluating, and samples trained: a run's throughput figures."""

    device: torch.device
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    samples: int = 0

    @contextmanager
    def timing(self, kind: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        if self.device.type == "cuda":  # kernels run asynchronously: count them where they run
            torch.cuda.synchronize(self.device)
        setattr(
            self,
            f"{kind}_seconds",
            getattr(self, f"{kind}_seconds") + time.perf_counter() - started,
        )

    def as_dict(self) -> dict:
        rate = self.samples / self.train_seconds if self.train_seconds > 0 else 0.0
        return {
            "train_seconds": self.train_seconds,
            "eval_seconds": self.eval_seconds,
            "samples_per_second": rate,
        }


def train_epoch(model, optimizer, x, y, order, batch_size: int, batches) -> torch.Tensor:
    """One pass over `order` in batches; the per-step summed losses, kept on the device."""
    model.train()
    losses = []
    for start in batches:
        idx = order[start : start + batch_size]
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


def _batches(n_train: int, batch_size: int, epoch: int, progress: bool):
    batches = range(0, n_train, batch_size)
    if not progress:
        return batches
    from tqdm import tqdm

    total = math.ceil(n_train / batch_size)
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


def train(
    run_config: Mapping[str, Any] | None,
    dataset: Mapping[str, np.ndarray] | str | Path,
    seed: int,
    device: str = "cpu",
    threads: int | None = None,
    on_epoch: OnEpoch | None = None,
    progress: bool = False,
    manifest_path: str | Path | None = None,
    channels_last: bool = True,
) -> TrainResult:
    """Train the ConvNet a run config describes; see the module docstring for the contract.

    `dataset` is the dict `load_dataset` returns or a path to the data stage's `.npz`.
    `progress` shows a tqdm bar over batches (the CLI turns it on only on a terminal).
    `channels_last` stores images and conv weights NHWC, which oneDNN runs faster on CPU; it is
    deterministic but gives other last bits than NCHW, so results depend on it (on by default).
    """
    config, dev = resolve_run_config(run_config), resolve_device(device)
    if not isinstance(dataset, Mapping):
        from snakesweep.data.dataset import load_dataset

        dataset = load_dataset(dataset, manifest_path)
    seed_everything(seed, threads)
    data = place_data(dataset, dev, channels_last)
    n_train, batch_size = len(data["x_train"]), config["batch_size"]

    model, optimizer, shuffle = _seeded_setup(config, seed, dev, channels_last)
    history: list[dict] = []
    state, reason, step, clock = "finished", None, 0, Clock(dev)
    for epoch in range(1, config["epochs"] + 1):
        order = torch.randperm(n_train, generator=shuffle).to(dev)
        with clock.timing("train"):
            batches = _batches(n_train, batch_size, epoch, progress)
            per_step = train_epoch(
                model, optimizer, data["x_train"], data["y_train"], order, batch_size, batches
            )
        clock.samples += n_train
        reason = divergence(per_step, epoch, step)
        step += len(per_step)
        if reason is not None:
            state = "failed"
            log.error("%s", reason)
            break
        with clock.timing("eval"):
            val_loss, val_accuracy = evaluate(model, data["x_val"], data["y_val"])
        row = {
            "epoch": epoch,
            "train_loss": float(per_step.double().sum()) / n_train,
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
        }
        history.append(row)
        log.info(
            "epoch %d/%d train_loss %.4f val_loss %.4f val_accuracy %.4f",
            epoch,
            config["epochs"],
            row["train_loss"],
            val_loss,
            val_accuracy,
        )
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
