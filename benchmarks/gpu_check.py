"""The reading-and-printing half of benchmarks/gpu_check.sh (the shell script runs the steps).

Each subcommand reads what a step left behind and prints it; it exits 1 only when what it read
shows a failure (a missing module, a run that did not finish, a GPU slot held by two agents at
once), never because a measured number is slow or two runs differ: those are findings to report.

    python benchmarks/gpu_check.py versions
    python benchmarks/gpu_check.py preflight
    python benchmarks/gpu_check.py path NAME                  # a name from snakesweep.paths
    python benchmarks/gpu_check.py compare-runs RUN_A RUN_B   # two `snakesweep train --out` folders
    python benchmarks/gpu_check.py agents WORKDIR             # a pipeline's working directory
    python benchmarks/gpu_check.py trials WORKDIR [--goal-accuracy 0.99] [--goal-seconds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import platform
import re
import sys
from datetime import datetime
from pathlib import Path

# What the pipeline imports beyond torch; the GPU box described in issue 13 lacks the first five,
# so they must travel there as wheels. Checked up front so a missing one costs seconds of GPU
# time, not a failed pipeline.
REQUIRED_MODULES = ("snakemake", "wandb", "sweeps", "mlxtend", "jsonschema", "torch", "torchvision", "onnx",
                    "onnxruntime", "onnxscript", "matplotlib", "sklearn", "filelock", "yaml", "snakesweep")

# Sub-dicts of metrics.json that differ between identical runs by design (snakesweep.train.run).
VOLATILE_KEYS = ("timing", "wandb")

LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
SLOT_LINE = re.compile(r"device: (cuda:\d+) \(GPU (\S+), slot (\d+) of (\d+)\)")


def versions() -> int:
    import torch

    print(f"python {platform.python_version()} ({sys.executable})")
    print(f"torch {torch.__version__}, built for CUDA {torch.version.cuda}, "
          f"cuDNN {torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None}")
    print(f"torch.cuda.is_available() = {torch.cuda.is_available()}, "
          f"device count {torch.cuda.device_count() if torch.cuda.is_available() else 0}")
    for index in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
        props = torch.cuda.get_device_properties(index)
        print(f"  cuda:{index} {props.name}, {props.total_memory / 2**30:.1f} GiB, "
              f"compute capability {props.major}.{props.minor}")
    return 0


def preflight() -> int:
    with contextlib.suppress(ImportError):  # its warning filters keep pydantic's chatter about `sweeps` off the output
        importlib.import_module("snakesweep.logs")
    missing = []
    for name in REQUIRED_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as err:
            missing.append(f"{name} ({err})")
    if missing:
        print(f"missing Python modules for {sys.executable}: {'; '.join(missing)}")
        return 1
    print(f"all {len(REQUIRED_MODULES)} modules import with {sys.executable}")
    return 0


def path(name: str) -> int:
    from snakesweep import paths

    print(getattr(paths, name))
    return 0


def differences(a, b, where: str = "") -> list[str]:
    """Every leaf at which two JSON values differ, as `key.path: a != b`."""
    if isinstance(a, dict) and isinstance(b, dict):
        found = []
        for key in sorted(set(a) | set(b), key=str):
            found += differences(a.get(key, "<absent>"), b.get(key, "<absent>"), f"{where}.{key}" if where else str(key))
        return found
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [line for i, (x, y) in enumerate(zip(a, b)) for line in differences(x, y, f"{where}[{i}]")]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


def first_differing_byte(a: bytes, b: bytes) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def compare_runs(run_a: str, run_b: str) -> int:
    from snakesweep.train.outputs import METRICS_FILE, ONNX_FILE

    metrics = [json.loads((Path(run) / METRICS_FILE).read_text()) for run in (run_a, run_b)]
    for run, m in zip((run_a, run_b), metrics):
        if m["state"] != "finished":
            print(f"{run}: the run did not finish: {m['state']} ({m['reason']})")
            return 1
    kept = [{k: v for k, v in m.items() if k not in VOLATILE_KEYS} for m in metrics]
    found = differences(*kept)
    onnx = [(Path(run) / ONNX_FILE).read_bytes() for run in (run_a, run_b)]
    print(f"device {kept[0]['device']}, seed {kept[0]['seed']}, threads {kept[0]['threads']}, "
          f"test_accuracy {kept[0]['final']['test_accuracy']} / {kept[1]['final']['test_accuracy']}")
    print(f"metrics.json without {'/'.join(VOLATILE_KEYS)}: "
          + ("identical" if not found else f"{len(found)} values differ:"))
    for line in found:
        print(f"  {line}")
    if onnx[0] == onnx[1]:
        print(f"model.onnx: identical ({len(onnx[0])} bytes)")
    else:
        print(f"model.onnx: differs ({len(onnx[0])} vs {len(onnx[1])} bytes, "
              f"first difference at byte {first_differing_byte(*onnx)})")
    print("determinism: " + ("bit-identical" if not found and onnx[0] == onnx[1] else "NOT bit-identical"))
    return 0


def log_window(log: Path) -> tuple[datetime | None, datetime | None, re.Match | None]:
    """When the agent took its device, when it last logged, and its slot line (GPU agents only)."""
    taken = last = slot = None
    for line in log.read_text(errors="replace").splitlines():
        stamp = LOG_TIME.match(line)
        if not stamp:
            continue
        when = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f")
        last = when
        if taken is None and "device: " in line:
            taken, slot = when, SLOT_LINE.search(line)
    return taken, last, slot


def agents(workdir: str) -> int:
    from snakesweep import paths

    root = Path(workdir)
    summaries = sorted(root.glob(paths.agent_output("*")))
    if not summaries:
        print(f"no {paths.agent_output('*')} in {workdir}")
        return 1
    held = []
    for summary_path in summaries:
        summary = json.loads(summary_path.read_text())
        name = summary["agent"]
        taken, last, slot = log_window(root / paths.LOGS / f"agent-{name}.log")
        where = f"GPU {slot.group(2)} slot {slot.group(3)} of {slot.group(4)}" if slot else "no GPU slot"
        window = f"{taken:%H:%M:%S}-{last:%H:%M:%S}" if taken else "? (no 'device:' line in its log)"
        print(f"agent {name}: device {summary['device']} ({where}), {len(summary['runs'])} runs, "
              f"CUDA_VISIBLE_DEVICES={summary['cuda_visible_devices']}, held {window}")
        if slot:
            held.append((slot.group(2), slot.group(3), taken, last, name))
    clashes = [(a, b) for i, a in enumerate(held) for b in held[i + 1:]
               if a[:2] == b[:2] and a[2] < b[3] and b[2] < a[3]]
    for a, b in clashes:
        print(f"FAILED: agents {a[4]} and {b[4]} held GPU {a[0]} slot {a[1]} at the same time")
    return 1 if clashes else 0


def trials(workdir: str, goal_accuracy: float, goal_seconds: float) -> int:
    from snakesweep import paths
    from snakesweep.train.outputs import METRICS_FILE

    runs = sorted((Path(workdir) / paths.RUNS_DIR).glob(f"*/{METRICS_FILE}"))
    if not runs:
        print(f"no {paths.RUNS_DIR}/*/{METRICS_FILE} in {workdir}")
        return 1
    manifest = json.loads((Path(workdir) / paths.MANIFEST).read_text())
    counts = {split: manifest["counts"][split]["total"] for split in ("train", "val", "test")}
    print(f"data: {manifest['source']['source']} source {manifest['source'].get('path', '')}, {counts}")
    failed = 0
    best = None
    for metrics_path in runs:
        m = json.loads(metrics_path.read_text())
        if m["state"] != "finished":
            print(f"run {metrics_path.parent.name}: {m['state']} ({m['reason']})")
            failed += 1
            continue
        t, accuracy = m["timing"], m["final"]["test_accuracy"]
        print(f"run {metrics_path.parent.name}: device {m['device']}, {m['final']['epochs_completed']} epochs, "
              f"test_accuracy {accuracy:.4f}, {t['total_seconds']:.2f} s per trial "
              f"(train {t['train_seconds']:.2f} s, {t['samples_per_second']:.0f} samples/s)")
        if best is None or accuracy > best[0]:
            best = (accuracy, t["total_seconds"], metrics_path.parent.name)
    if best:
        met = best[0] >= goal_accuracy and best[1] < goal_seconds
        print(f"best: run {best[2]} test_accuracy {best[0]:.4f} in {best[1]:.2f} s; goal (>= {goal_accuracy} "
              f"in < {goal_seconds} s per trial): {'met' if met else 'not met'}")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("versions")
    commands.add_parser("preflight")
    commands.add_parser("path").add_argument("name")
    compare = commands.add_parser("compare-runs")
    compare.add_argument("run_a")
    compare.add_argument("run_b")
    commands.add_parser("agents").add_argument("workdir")
    trial = commands.add_parser("trials")
    trial.add_argument("workdir")
    trial.add_argument("--goal-accuracy", type=float, default=0.99)
    trial.add_argument("--goal-seconds", type=float, default=5.0)
    args = parser.parse_args()
    if args.command == "versions":
        return versions()
    if args.command == "preflight":
        return preflight()
    if args.command == "path":
        return path(args.name)
    if args.command == "compare-runs":
        return compare_runs(args.run_a, args.run_b)
    if args.command == "agents":
        return agents(args.workdir)
    return trials(args.workdir, args.goal_accuracy, args.goal_seconds)


if __name__ == "__main__":
    sys.exit(main())
