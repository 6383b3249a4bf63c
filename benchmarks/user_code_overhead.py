"""What snakesweep adds to each run of the user's own code, in function and in program mode.

Side by side, in one process tree, on the same configs:
- function mode: the same `train()` in a bare loop (one process, `WANDB_SWEEP_PARAM_PATH` and
  `WANDB_RUN_ID` set per run, as `wandb.agent(function=train)` does), against snakesweep's agent
  loop with the local controller on a scratch store, each run in its own forked process;
- program mode: the same program started once per run with `subprocess.run` (its own wall
  time), against snakesweep's agent loop running it per run.
The overhead per run is (snakesweep's time per run) - (the bare time per run), over the warm
runs; the function's is also given against the loop `wandb.agent` runs (see `bare_function`)
(the first run of each side is reported on its own: imports, the fork server, wandb's
service). Targets: at most 0.15 s per warm run for a function, at most 0.5 s beyond the
program's own wall time for a program.

    python benchmarks/user_code_overhead.py [--runs 10] [--repeat 3]

The workload is examples/simulated-curves-function (no torch: the overhead is not hidden in a
long training), as a function, and the same code as a program (benchmarks/curves_program.py).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FUNCTION = "examples/simulated-curves-function/train.py:train"
PROGRAM = "benchmarks/curves_program.py"
SWEEP = {
    "method": "grid",
    "metric": {"name": "val_loss", "goal": "minimize"},
    "parameters": {"learning_rate": {"values": [0.0005 * (i + 1) for i in range(100)]}},
}


def configs(count: int) -> list[dict]:
    return [
        {"learning_rate": {"value": v}}
        for v in SWEEP["parameters"]["learning_rate"]["values"][:count]
    ]


def bare_function(work: Path, count: int, teardown: bool) -> list[float]:
    """The function in a loop in this process. With `teardown`, each run is set up as
    `wandb.agent(function=...)` does it (wandb.teardown(), the run's environment, the function,
    wandb.finish()), which restarts wandb's service every run; without, wandb keeps its service
    and its settings, so every run after the first sees the first run's parameter file: the
    cheapest loop there is, a lower bound rather than a correct sweep."""
    import wandb

    from snakesweep.usercode import command
    from snakesweep.usercode.function import parse_target

    folder, module, name = parse_target(str(REPO / FUNCTION))
    sys.path.insert(0, folder)
    train = getattr(__import__(module), name)
    wandb.teardown()  # nothing left of an earlier measurement
    times = []
    for i, params in enumerate(configs(count)):
        started = time.perf_counter()
        param_file = work / f"bare-{i}.yaml"
        command.write_param_file(param_file, params)
        os.environ.update(command.run_environ(os.environ, f"bare-{i}", param_file))
        if teardown:
            wandb.teardown()
        random.seed(i)
        train()
        wandb.finish()
        times.append(time.perf_counter() - started)
    wandb.teardown()
    return times


def bare_program(work: Path, count: int, env: dict) -> list[float]:
    from snakesweep.usercode import command

    times = []
    for i, params in enumerate(configs(count)):
        started = time.perf_counter()
        param_file = work / f"bare-program-{i}.yaml"
        argv = command.prepare_run(None, str(REPO / PROGRAM), params, param_file, env)
        subprocess.run(
            argv,
            env=command.run_environ(env, f"bare-program-{i}", param_file),
            check=True,
            cwd=work,
        )
        times.append(time.perf_counter() - started)
    return times


def snakesweep_runs(work: Path, count: int, chosen) -> list[float]:
    """The agent loop with the local controller, running the objective `chosen` (an
    `Objective`) as the agent job does (`snakesweep.objective.runs`), with no data stage. A
    run's time is from its start to the next run's (the last: to the agent's end), so it
    includes recording its finish and the next claim, as the bare loop's includes writing the
    next parameter file."""
    from snakesweep import objective
    from snakesweep.agent.loop import run_agent
    from snakesweep.record.sweep_record import SweepRecord
    from snakesweep.settings import Config
    from snakesweep.sweep.controller import LocalController
    from snakesweep.sweep.decide import Limits
    from snakesweep.sweep.metric import ranking

    config = {**SWEEP, "run_cap": count}
    sweep = SweepRecord(
        controller="local",
        sweep_id="local-overhead",
        name="overhead",
        file="(benchmarks/user_code_overhead.py)",
        config=config,
        hash="",
        seed=0,
        parallelism=1,
        objective=chosen,
        ranking=ranking(config, None),
        train={},
        project="snakesweep",
        entity=None,
        store=str(work / "store.log"),
    )
    settings = Config({"agents": {"device": "cpu", "threads": 1}}).agent()
    limits = Limits(sweep.parallelism, settings.heartbeat_timeout, settings.max_attempts)
    controller = LocalController(sweep.store, config, sweep.seed, limits)
    starts: list[float] = []
    with objective.runs(sweep, settings, None, "cpu") as train_one:

        def timed(claim, on_epoch):
            starts.append(time.perf_counter())
            return train_one(claim, on_epoch)

        run_agent(controller, "bench", count, timed, heartbeat_interval=30.0, wait_seconds=0.1)
        starts.append(time.perf_counter())
    return [later - earlier for earlier, later in zip(starts, starts[1:], strict=False)]


def report(label: str, bare: list[float], ours: list[float], target: float) -> float:
    warm_bare, warm_ours = statistics.median(bare[1:]), statistics.median(ours[1:])
    overhead = warm_ours - warm_bare
    print(
        f"{label}: bare median {warm_bare:.3f} s/run (first {bare[0]:.2f} s), "
        f"snakesweep median {warm_ours:.3f} s/run "
        f"(first {ours[0]:.2f} s): overhead {overhead:+.3f} s per warm run (target <= {target} s), "
        f"ratio {warm_ours / warm_bare:.2f}x"
    )
    return overhead


def measure(runs: int) -> tuple[float, float]:
    from snakesweep.record.sweep_record import FUNCTION as FUNCTION_KIND
    from snakesweep.record.sweep_record import PROGRAM as PROGRAM_KIND
    from snakesweep.record.sweep_record import Objective

    with tempfile.TemporaryDirectory(prefix="snakesweep-overhead-") as tmp:
        work = Path(tmp)
        os.chdir(work)
        env = {
            **os.environ,
            "WANDB_MODE": "offline",
            "WANDB_SILENT": "true",
            "WANDB_DIR": str(work),
            # `/usr/bin/env python` is this interpreter, as snakesweep's runs get it
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        }
        os.environ.update(env)
        ours = snakesweep_runs(
            _fresh(work / "ours"), runs, Objective(FUNCTION_KIND, function=str(REPO / FUNCTION))
        )
        report(
            "function, against wandb.agent's loop",
            bare_function(_fresh(work / "agent-loop"), runs, True),
            ours,
            0.15,
        )
        function = report("function", bare_function(_fresh(work / "bare"), runs, False), ours, 0.15)
        program = report(
            "program",
            bare_program(_fresh(work / "bare-program"), runs, env),
            snakesweep_runs(
                _fresh(work / "ours-program"),
                runs,
                Objective(PROGRAM_KIND, program=str(REPO / PROGRAM), command=None),
            ),
            0.5,
        )
        os.chdir(REPO)
    return function, program


def _fresh(path: Path) -> Path:
    path.mkdir()
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs per side and mode (default 10)")
    parser.add_argument("--repeat", type=int, default=1, help="measure this many times (default 1)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    results = [measure(args.runs) for _ in range(args.repeat)]
    for label, values in zip(("function", "program"), zip(*results, strict=False), strict=False):
        print(
            f"{label} overhead per warm run over {args.repeat} repeat(s): "
            f"median {statistics.median(values):+.3f} s, "
            f"spread {min(values):+.3f}..{max(values):+.3f} s"
        )


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
