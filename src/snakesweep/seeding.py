"""Seeding: the two functions every stage uses to be reproducible.

`derive_seed` turns the one config seed into independent child seeds by name, with SHA-256
rather than Python's `hash()` (which is salted per process), so a child seed is the same in
every process, on every host, in every run. `seed_everything` then puts one process into a
known state: every RNG seeded, deterministic kernels, and a pinned thread count (on CPU,
1 and 2 threads give results that differ in the last bits).
"""

from __future__ import annotations

import hashlib
import json
import os
import random

import numpy as np

_MASK_63 = (1 << 63) - 1


def derive_seed(seed: int, *names: object) -> int:
    """A child seed in [0, 2**63) determined only by `seed` and `names`.

    Names may be strings, numbers or JSON-serialisable structures (a run config, say); dicts
    are canonicalised by sorting their keys, so key order never changes the seed.
    """
    payload = json.dumps(
        [int(seed), list(names)], sort_keys=True, separators=(",", ":"), default=str
    )
    digest = hashlib.sha256(payload.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") & _MASK_63


def seed_everything(seed: int, threads: int | None = None) -> None:
    """Seed Python, numpy and torch (CPU and CUDA) and make torch deterministic.

    `threads` pins torch's intra-op thread count; pass the same value to reproduce a run bit for
    bit. `CUBLAS_WORKSPACE_CONFIG` must be set before cuBLAS initialises, which is why it is set
    here, before any CUDA work, and only if the user has not chosen a value.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import torch  # imported here so data-only stages need not pay for torch

    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    torch.manual_seed(seed)  # also seeds every CUDA device
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
