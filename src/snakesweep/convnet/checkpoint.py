"""A ConvNet run's checkpoint, saved in its folder after every epoch, so that a run whose agent
had to end (a time limit, preemption) resumes where it was and ends exactly as an undisturbed
run would: bit for bit the same weights, metrics and model.onnx.

It holds everything the next epochs depend on: the weights, the optimizer's state, the shuffle
generator, every global RNG (torch's CPU and CUDA ones drive dropout; Python's and numpy's for
completeness), and the epochs' rows and step count so far. It is written whole or not at all.
"""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path

import numpy as np
import torch
from torch import nn

log = logging.getLogger("snakesweep.train")


def save(
    path: Path, model: nn.Module, optimizer, shuffle: torch.Generator, history: list, step: int
) -> None:
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "shuffle": shuffle.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": np.random.get_state(),
        "random": random.getstate(),
        "history": history,
        "step": step,
    }
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    os.replace(partial, path)


def load(
    path: Path, model: nn.Module, optimizer, shuffle: torch.Generator
) -> tuple[list, int] | None:
    """Put the run back in the state it saved; its (history, step), or None with no checkpoint."""
    if not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)  # our own file
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    shuffle.set_state(state["shuffle"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np.random.set_state(state["numpy"])
    random.setstate(state["random"])
    return state["history"], state["step"]


def resume(saved: Path | None, model: nn.Module, optimizer, shuffle, on_epoch) -> tuple[list, int]:
    """(history, step) from the run's checkpoint, its epochs reported again to `on_epoch` (so
    the controller's record of this attempt, and hyperband, see the run's whole history); ([],
    0) when there is none."""
    loaded = load(saved, model, optimizer, shuffle) if saved is not None else None
    if loaded is None:
        return [], 0
    history, step = loaded
    log.info("resumed after epoch %d from %s", len(history), saved)
    for row in history:
        if on_epoch is not None:
            on_epoch(row["epoch"], dict(row))
    return history, step
