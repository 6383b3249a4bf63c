"""Imported once, by the fork server of a function's runs (its preload), for this side effect:
wandb's service process is started here, once per agent, and every run of the function connects
to it through `WANDB_SERVICE`, as wandb advises for code that runs in many processes. A run
that started a service of its own paid about a second for it here; a warm run's whole budget is
a tenth of that. What a process's first `wandb.init` imports is imported here too
(`preload_wandb`), so that no run pays for it again."""

import wandb

from snakesweep.wandb_preload import preload_wandb

preload_wandb()
wandb.setup()
