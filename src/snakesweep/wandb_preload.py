"""Import what a process's first `wandb.init` imports, early: both the ConvNet's runs and the
fork server of the user's functions call `preload_wandb` before anything imports torch."""

from __future__ import annotations

import importlib
from contextlib import suppress

# What every `wandb.init` imports (W&B Launch's staged inputs) on a process's first run.
_INIT_IMPORTS = "wandb.sdk.launch.inputs.internal"


def preload_wandb() -> None:
    """Import what a process's first `wandb.init` imports, before torch is imported.

    Those modules declare pydantic models that read their docstrings through
    `inspect.getsource`, and each lookup scans `sys.modules`. After torch and its exporter
    (about 3,000 modules) the first init took 1.1-1.6 s; imported first, the same modules cost
    0.7-1.0 s and the init 0.25 s. A sweep agent calls this before anything else; if a wandb
    release moves the module, it just costs the old time."""
    with suppress(ImportError):
        importlib.import_module(_INIT_IMPORTS)
