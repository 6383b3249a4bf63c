"""The user's `function`, run the way `wandb.agent(sweep_id, function=train)` runs it, but each
run in a process of its own.

W&B's agent calls the function in a thread of its own process, so whatever one run leaves
behind (module globals, RNG states, CUDA memory, a half-closed wandb run) is there for the next
(wandb/wandb#9497). Here every run is a fresh process forked from one that imported the user's
module once: a warm start (the imports, torch's included, are paid once per agent), and every
run starts from that same state, so a run's result never depends on which runs its agent did
before. The fork server is Python's own (`multiprocessing`'s forkserver): it is started from a
clean interpreter, so no run inherits the agent's threads, locks or open files (the store's
lock among them).

In the run's process, before the function is called: a session of its own (so the run and
what it starts are ended together), the run's environment (`WANDB_SWEEP_PARAM_PATH`,
`WANDB_RUN_ID`, ...) and working folder, stdout and stderr to the run's files, and Python's
`random`, numpy and (when the user's module imported it) torch seeded from the run's seed, with
torch's threads pinned. If the function returns with a wandb run still open, it is finished
with the run's exit code, as W&B's agent does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import multiprocessing
import os
import random
import sys
import traceback
from pathlib import Path

from snakesweep.usercode.process import die_with_parent

# Under `wandb.agent(function=train)` the script runs as __main__; here its module is imported
# (running it as __main__ would run its own `wandb.agent(...)` call too).
MAIN_HINT = (
    "the function's module is imported as {module!r}, not run as __main__: code under "
    '`if __name__ == "__main__":` does not run, so move what train() needs out of it'
)


@dataclasses.dataclass(frozen=True)
class RunSetup:
    """One run's process: its environment, working folder, stdout and stderr files, its seed,
    and torch's thread count."""

    environ: dict[str, str]
    cwd: str
    stdout: str
    stderr: str
    seed: int
    threads: int

    def absolute(self) -> RunSetup:
        """The same, with absolute paths: the run's process changes its working folder."""
        return dataclasses.replace(
            self,
            **{key: os.path.abspath(getattr(self, key)) for key in ("cwd", "stdout", "stderr")},
        )


def parse_target(target: str) -> tuple[str | None, str, str]:
    """`path/to/train.py:name` -> (its folder, module `train`, `name`); `pkg.mod:name` -> (None,
    `pkg.mod`, `name`)."""
    where, _, name = target.rpartition(":")
    if where.endswith(".py"):
        path = Path(where).resolve()
        return str(path.parent), path.stem, name
    return None, where, name


class FunctionRunner:
    """Starts runs of one function from a fork server that imported the user's module once. An
    import error there is not fatal to it: each run then imports the module itself, and the
    error shows in the run's stderr and fails it."""

    def __init__(self, target: str):
        folder, self.module, self.name = parse_target(target)
        if folder is not None and folder not in sys.path:
            sys.path.insert(0, folder)  # the fork server is given the agent's sys.path
        self._context = multiprocessing.get_context("forkserver")
        # numpy too, so that it is seeded even when the user imports it inside the function
        self._context.set_forkserver_preload(
            ["numpy", "snakesweep.usercode.wandb_service", self.module]
        )
        # Up and done with its imports now, so that the server and wandb's service are no
        # processes of any run's (each run's leftovers are ended with it).
        with _main_not_rerun():
            warm_up = self._context.Process(target=_no_run, name="snakesweep-warm-up")
            warm_up.start()
        warm_up.join()

    def start(self, setup: RunSetup):
        process = self._context.Process(
            target=_run_function,
            args=(self.module, self.name, setup.absolute()),
            name="snakesweep-run",
        )
        with _main_not_rerun():
            process.start()
        return process


def _no_run() -> None:
    """The fork server's first child: it only proves that the server has done its imports."""


@contextlib.contextmanager
def _main_not_rerun():
    """multiprocessing runs the parent's `__main__` file again in each new process unless it is
    a module run by name; the agent's `__main__` is Snakemake's script for the rule, which must
    not run again in a run's process. Without `__file__` while the process starts, it is not."""
    main = sys.modules["__main__"]
    saved = main.__dict__.pop("__file__", None)
    try:
        yield
    finally:
        if saved is not None:
            main.__file__ = saved


def _run_function(module: str, name: str, setup: RunSetup):
    """The run's process (see the module docstring); exits with the run's exit code."""
    die_with_parent()  # the fork server's child: it goes when the server (and so the agent) goes
    _redirect(1, setup.stdout)
    _redirect(2, setup.stderr)
    os.setsid()
    service = os.environ.get("WANDB_SERVICE")  # the fork server's (see wandb_service)
    os.environ.clear()
    os.environ.update(setup.environ)
    if service:
        os.environ["WANDB_SERVICE"] = service
    os.chdir(setup.cwd)
    code = 0
    try:
        function = _imported(module, name)
        seed_run(setup.seed, setup.threads)
        function()
    except _ImportFailed:
        code = 1
    except SystemExit as stop:  # as Python ends on it: a message goes to stderr, and exit 1
        if not isinstance(stop.code, int) and stop.code is not None:
            print(stop.code, file=sys.stderr)
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException as err:  # noqa: BLE001 - the user's code may raise anything
        traceback.print_exc()
        if isinstance(err, NameError):
            print(MAIN_HINT.format(module=module), file=sys.stderr)
        code = 1
    _finish_wandb(code)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _imported(module: str, name: str):
    """The user's function; whatever its module raises while imported (a `KeyError`, a
    `sys.exit(...)` under no `__main__` guard) fails the run with its traceback."""
    try:
        return getattr(importlib.import_module(module), name)
    except BaseException as err:  # noqa: BLE001 - the module may raise anything, SystemExit too
        traceback.print_exc()
        print(f"importing {module} raised {type(err).__name__}: {err}", file=sys.stderr)
        raise _ImportFailed from None


class _ImportFailed(Exception):
    """The user's module raised while imported; its traceback is on stderr already."""


def _redirect(fd: int, path: str) -> None:
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(target, fd)
    os.close(target)


def seed_run(seed: int, threads: int) -> None:
    """Seed every RNG the user's code may draw from without seeding it itself; torch only if
    the user's module imported it (importing it here would cost a run that never uses it)."""
    import numpy

    random.seed(seed)
    numpy.random.seed(seed % (1 << 32))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
        torch.set_num_threads(threads)


def _finish_wandb(code: int) -> None:
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        try:
            wandb.finish(exit_code=code)
        except Exception:  # noqa: BLE001 - the run's exit code stands whatever wandb says
            traceback.print_exc()
