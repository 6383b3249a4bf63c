"""Prove the GPU path on a real GPU, in one run that fits a few minutes of GPU time.

  0. the machine, the tree and the Python modules the pipeline imports (any that are missing)
  1. nvidia-smi -L, Python, torch, CUDA and cuDNN versions
  2. benchmarks/train_throughput.py --device cuda and --device cpu: samples/s and their ratio
  3. the default run config trained twice with one seed on CUDA (`snakesweep train`):
     metrics.json (less timing and wandb) and model.onnx compared, every difference printed
  4. the default pipeline with agents.device: cuda, then with agents.per_gpu: 2: the device
     and GPU slot each agent took (results/sweep/agents/*.json and its log)
  5. the full-MNIST sweep (configs/full-mnist.yaml, data.source: local): test accuracy and
     seconds per trial (goal: >= 99.0% in < 5 s)

Usage:
  python benchmarks/gpu_check.py [--mnist DIR] [--keep] [--out DIR]   # on a GPU box
  python benchmarks/gpu_check.py --out benchmarks/results   # the record: gpu-check.txt and .json
  python benchmarks/gpu_check.py --cpu-only   # the same steps on the CPU at tiny size: a smoke test

--out DIR is where the two reports go: gpu-check.txt, all that the run printed, and
gpu-check.json, each step's findings, verdict and seconds (default: a new folder
gpu-check-report-* in $TMPDIR or /tmp, named near the end of the output). --mnist DIR names the
folder with MNIST's four IDX files for step 5 (default: $MNIST_DIR, else ../shared/data/mnist or
benchmarks/out/mnist when present, else the bundled 5,000-digit sample, which the output then
says). --keep leaves the scratch folder (gpu-check.* in $TMPDIR or /tmp) for inspection.

Everything runs in a scratch copy of this working tree (what a clone would hold, uncommitted edits
included: workcopy.copy_checkout), importing the copy's src/, so the user's checkout is never
written to. The Python is $PYTHON, else .venv/bin/python, else the one running this script, which
runs itself again under it if need be; it needs the project's dependencies (step 0 lists any that
are missing) but not an installed snakesweep. A failed step does not stop the others, since GPU
time is scarce, except that a GPU run stops when step 1 finds no usable GPU; the exit status is 1
if any step failed. A finding is never a failure: a slow number or two runs that differ is
reported, not failed on.
"""

# Only the standard library at the top: the script may start under a Python that lacks the
# project's dependencies, and then runs itself again under $PYTHON (see main). snakesweep is
# imported inside the steps, from the scratch copy's src/, once that copy exists.
from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# What the pipeline imports beyond torch; a bare GPU box (torch and CUDA only) lacks the first five,
# so they must travel there as wheels. Checked up front so a missing one costs seconds of GPU
# time, not a failed pipeline.
REQUIRED_MODULES = (
    "snakemake",
    "wandb",
    "sweeps",
    "mlxtend",
    "jsonschema",
    "torch",
    "torchvision",
    "onnx",
    "onnxruntime",
    "onnxscript",
    "matplotlib",
    "sklearn",
    "filelock",
    "yaml",
    "snakesweep",
)

# Sub-dicts of metrics.json that differ between identical runs by design (snakesweep.convnet.run).
VOLATILE_KEYS = ("timing", "wandb")

TINY_SWEEP_FILE = "gpu-check-sweep.yaml"
REPORT = "gpu-check"  # REPORT.txt and REPORT.json in --out


# A step fails by raising StepFailed, or, to keep what it found, by returning findings with a
# "failed" reason. Either way it has printed what went wrong; the reason is for the JSON report.
class StepFailed(Exception):
    """The step cannot go on."""


def failing(reasons: list[str]) -> dict:
    """The findings' "failed" entry for these reasons: none when there are none."""
    return {"failed": "; ".join(reasons)} if reasons else {}


@dataclass
class Check:
    """One run of the check: its options and the scratch folder the steps work in."""

    python: str
    cpu_only: bool
    mnist: str | None
    scratch: Path
    cores: int = field(
        default_factory=lambda: len(os.sched_getaffinity(0))
    )  # the CPUs this job may use, as nproc

    verdicts: list[str] = field(default_factory=list)  # the current step's verdict lines

    @property
    def device(self) -> str:
        return "cpu" if self.cpu_only else "cuda"

    def say(self, line: str) -> None:
        """Print a line that carries the step's verdict; the summary repeats it."""
        print(line)
        self.verdicts.append(line)

    @property
    def tree(self) -> Path:
        """The copy of the working tree that every pipeline copy is taken from."""
        return self.scratch / "tree"

    @property
    def default(self) -> Path:
        """The default pipeline's copy: step 3 trains on its data stage's output, step 4 runs
        the rest."""
        return self.scratch / "default"

    def workdir(
        self, name: str, overrides: dict, rates: tuple[float, ...] = (0.001, 0.003)
    ) -> Path:
        """A fresh copy of the tree to run one pipeline in, with `overrides` as gpu-check.yaml
        and, for --cpu-only, TINY_SWEEP_FILE: a grid of 1-epoch runs, one per learning rate."""
        from workcopy import copy_checkout

        workdir = copy_checkout(self.scratch / name, source=self.tree)
        write_yaml(workdir / "gpu-check.yaml", overrides)
        if self.cpu_only:
            write_yaml(
                workdir / TINY_SWEEP_FILE,
                {
                    "method": "grid",
                    "metric": {"name": "val_accuracy", "goal": "maximize"},
                    "parameters": {
                        "epochs": {"value": 1},
                        "learning_rate": {"values": list(rates)},
                    },
                },
            )
        return workdir

    def tiny_sweep(self) -> dict:
        """The config setting that points a --cpu-only pipeline at its TINY_SWEEP_FILE."""
        return {"sweep": {"file": TINY_SWEEP_FILE}} if self.cpu_only else {}


def write_yaml(path: Path, value: dict) -> None:
    import yaml

    path.write_text(yaml.safe_dump(value, sort_keys=False))


class Tee(io.TextIOBase):
    """A stream that writes to several: the console and the text report."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
            # the console shows each line as it comes, and the report survives a crash
            stream.flush()
        return len(text)


def start(command: list, log: Path, cwd: Path | None = None) -> subprocess.Popen:
    """`command` started in the background with all its output in `log`."""
    with open(log, "w") as out:
        return subprocess.Popen(
            [str(part) for part in command], cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )


def finished(process: subprocess.Popen, log: Path, what: str, lines: int = 40) -> None:
    """Wait for `process`; if it failed, print the last `lines` of its `log` and fail the step."""
    if process.wait() != 0:
        print(f"{what} failed; the last lines of its output:")
        print("\n".join(log.read_text(errors="replace").splitlines()[-lines:]))
        raise StepFailed(f"{what} failed (exit status {process.returncode})")


def streamed(command: list, log: Path, what: str) -> str:
    """Run `command`, printing its output as it comes; its output, also kept in `log`."""
    with (
        open(log, "w") as kept,
        subprocess.Popen(
            [str(part) for part in command],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as process,
    ):
        for line in process.stdout:
            print(line, end="")
            kept.write(line)
    if process.returncode != 0:
        raise StepFailed(f"{what} failed (exit status {process.returncode})")
    return log.read_text()


def snakemake(check: Check, workdir: Path, *args: str, log: str = "snakemake.out") -> Path:
    """`snakemake --cores N ARGS` in `workdir`, its output in workdir/`log`; fails the step if it
    fails."""
    process = start(
        [check.python, "-m", "snakemake", "--cores", check.cores, *args], workdir / log, cwd=workdir
    )
    finished(process, workdir / log, "snakemake")
    return workdir / log


def pipeline(check: Check, workdir: Path, *configfiles: str) -> None:
    """The whole pipeline in `workdir` with `configfiles`; prints snakesweep's closing summary."""
    print(f"$ snakemake --cores {check.cores} --configfile {' '.join(configfiles)}")
    for line in (workdir / "gpu-check.yaml").read_text().splitlines():
        print(f"  gpu-check.yaml: {line}")
    output = snakemake(check, workdir, "--configfile", *configfiles).read_text(errors="replace")
    print(
        output[output.find("snakesweep: sweep") :] if "snakesweep: sweep" in output else "", end=""
    )


def step0_preflight(check: Check) -> dict:
    now = datetime.now(UTC)
    mode = "--cpu-only" if check.cpu_only else "GPU run"
    print(f"{now:%Y-%m-%d %H:%M:%S} UTC on {socket.gethostname()}, {check.cores} CPUs, {mode}")
    commit, changed = git_state(REPO)
    print(f"tree: {REPO} at {commit or 'no git'}{' (with uncommitted changes)' if changed else ''}")
    findings = {
        "date": now.isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "cpus": check.cores,
        "mode": mode,
        "tree": str(REPO),
        "commit": commit,
        "uncommitted_changes": changed,
        "python": sys.executable,
        "missing_modules": missing_modules(),
    }
    if findings["missing_modules"]:
        print(
            f"missing Python modules for {sys.executable}: {'; '.join(findings['missing_modules'])}"
        )
        return {**findings, "failed": "missing Python modules"}
    print(f"all {len(REQUIRED_MODULES)} modules import with {sys.executable}")
    return findings


def git_state(tree: Path) -> tuple[str | None, bool]:
    """The short commit `tree` is at and whether it has uncommitted changes (None, False: no
    git)."""

    def git(*args: str) -> str | None:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            return subprocess.run(
                ["git", "-C", str(tree), *args], capture_output=True, text=True, check=True
            ).stdout
        return None

    commit = git("rev-parse", "--short", "HEAD")
    return (
        (commit.strip(), bool((git("status", "--porcelain") or "").strip()))
        if commit
        else (None, False)
    )


def missing_modules() -> list[str]:
    with contextlib.suppress(
        ImportError
    ):  # its warning filters keep pydantic's chatter about `sweeps` off the output
        importlib.import_module("snakesweep.logs")
    missing = []
    for name in REQUIRED_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as err:
            missing.append(f"{name} ({err})")
    return missing


def step1_versions(check: Check) -> dict:
    findings = {"nvidia_smi": nvidia_smi(), **versions()}
    if not check.cpu_only and not findings["cuda_available"]:
        print("torch sees no CUDA GPU here: run with --cpu-only, or fix the driver/torch build")
        return {**findings, "failed": "torch sees no CUDA GPU"}
    return findings


def nvidia_smi() -> list[str] | None:
    """`nvidia-smi -L`'s lines (printed), or None where there is no nvidia-smi."""
    if not shutil.which("nvidia-smi"):
        print("nvidia-smi: not found")
        return None
    listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    print(listed.stdout + listed.stderr, end="")
    return (listed.stdout + listed.stderr).splitlines()


def versions() -> dict:
    import torch

    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    available = torch.cuda.is_available()
    gpus = [
        torch.cuda.get_device_properties(index)
        for index in range(torch.cuda.device_count() if available else 0)
    ]
    print(f"python {platform.python_version()} ({sys.executable})")
    print(f"torch {torch.__version__}, built for CUDA {torch.version.cuda}, cuDNN {cudnn}")
    print(f"torch.cuda.is_available() = {available}, device count {len(gpus)}")
    for index, props in enumerate(gpus):
        print(
            f"  cuda:{index} {props.name}, {props.total_memory / 2**30:.1f} GiB, "
            f"compute capability {props.major}.{props.minor}"
        )
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": cudnn,
        "cuda_available": available,
        "gpus": [
            {
                "name": p.name,
                "memory_gib": round(p.total_memory / 2**30, 1),
                "compute_capability": f"{p.major}.{p.minor}",
            }
            for p in gpus
        ],
    }


def step2_throughput(check: Check) -> dict:
    args = ["--threads", str(check.cores), "--skip-overhead"]
    args += ["--epochs", "1", "--repeat", "1"] if check.cpu_only else ["--repeat", "3"]
    rates = {}
    for device in ("cpu",) if check.cpu_only else ("cuda", "cpu"):
        print(f"$ python benchmarks/train_throughput.py --device {device} {' '.join(args)}")
        figures = check.scratch / f"throughput-{device}.json"
        streamed(
            [
                check.python,
                check.tree / "benchmarks" / "train_throughput.py",
                "--device",
                device,
                *args,
                "--json",
                figures,
            ],
            check.scratch / f"throughput-{device}.txt",
            f"train_throughput.py --device {device}",
        )
        try:
            rate = json.loads(figures.read_text())["throughput"]["samples_per_second"]["b"]
        except (OSError, ValueError, KeyError) as err:
            raise StepFailed(
                f"train_throughput.py --device {device} wrote no figures ({err})"
            ) from None
        rates[device] = float(rate)
    if check.cpu_only:
        check.say(
            f"GPU/CPU ratio: not measured (--cpu-only); CPU trainer {rates['cpu']:.0f} samples/s"
        )
        return {"samples_per_second": rates, "ratio": None}
    ratio = rates["cuda"] / rates["cpu"]
    check.say(
        "GPU/CPU ratio (snakesweep trainer, medians): "
        f"{rates['cuda']:.0f} / {rates['cpu']:.0f} samples/s "
        f"= {ratio:.1f}x"
    )
    return {"samples_per_second": rates, "ratio": ratio}


def step3_determinism(check: Check) -> dict:
    from snakesweep import paths

    print(
        f"$ snakemake --cores {check.cores} {paths.DATASET} --configfile gpu-check.yaml   "
        "# the data stage of step 4's pipeline"
    )
    snakemake(check, check.default, paths.DATASET, "--configfile", "gpu-check.yaml", log="data.out")
    write_yaml(check.scratch / "run-config.yaml", {"epochs": 1} if check.cpu_only else {})
    print(
        f"run config: {(check.scratch / 'run-config.yaml').read_text().strip()} "
        "(the rest from workflow/schemas/run.schema.yaml), bundled data, seed 0, 1 thread"
    )
    print(
        f"$ snakesweep train --config run-config.yaml --data {paths.DATASET} "
        "--out run-a|run-b --seed 0 "
        f"--device {check.device} --threads 1  # a, b in parallel"
    )
    # Both at once: the same seed must give the same bytes whatever else shares the device.
    runs = {
        name: start(
            [
                check.python,
                "-m",
                "snakesweep.cli",
                "train",
                "--config",
                check.scratch / "run-config.yaml",
                "--data",
                check.default / paths.DATASET,
                "--manifest",
                check.default / paths.MANIFEST,
                "--out",
                check.scratch / f"run-{name}",
                "--seed",
                "0",
                "--device",
                check.device,
                "--threads",
                "1",
            ],
            check.scratch / f"run-{name}.out",
        )
        for name in ("a", "b")
    }
    for process in runs.values():
        process.wait()
    for name, process in runs.items():
        finished(
            process, check.scratch / f"run-{name}.out", f"snakesweep train (run-{name})", lines=20
        )
    return compare_runs(check, check.scratch / "run-a", check.scratch / "run-b")


def differences(a, b, where: str = "") -> list[str]:
    """Every leaf at which two JSON values differ, as `key.path: a != b`."""
    if isinstance(a, dict) and isinstance(b, dict):
        found = []
        for key in sorted(set(a) | set(b), key=str):
            found += differences(
                a.get(key, "<absent>"),
                b.get(key, "<absent>"),
                f"{where}.{key}" if where else str(key),
            )
        return found
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            line
            for i, (x, y) in enumerate(zip(a, b, strict=False))
            for line in differences(x, y, f"{where}[{i}]")
        ]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


def first_differing_byte(a: bytes, b: bytes) -> int:
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


def compare_runs(check: Check, run_a: Path, run_b: Path) -> dict:
    """Two `snakesweep train --out` folders compared: a difference is a finding, an unfinished
    run a failure."""
    from snakesweep.paths import ONNX_FILE, RUN_METRICS

    metrics = [json.loads((Path(run) / RUN_METRICS).read_text()) for run in (run_a, run_b)]
    for run, m in zip((run_a, run_b), metrics, strict=False):
        if m["state"] != "finished":
            print(f"{run}: the run did not finish: {m['state']} ({m['reason']})")
            raise StepFailed(f"{Path(run).name} did not finish")
    kept = [{k: v for k, v in m.items() if k not in VOLATILE_KEYS} for m in metrics]
    found = differences(*kept)
    onnx = [(Path(run) / ONNX_FILE).read_bytes() for run in (run_a, run_b)]
    print(
        f"device {kept[0]['device']}, seed {kept[0]['seed']}, threads {kept[0]['threads']}, "
        f"test_accuracy {kept[0]['final']['test_accuracy']} / {kept[1]['final']['test_accuracy']}"
    )
    print(
        f"metrics.json without {'/'.join(VOLATILE_KEYS)}: "
        + ("identical" if not found else f"{len(found)} values differ:")
    )
    for line in found:
        print(f"  {line}")
    first_byte = None if onnx[0] == onnx[1] else first_differing_byte(*onnx)
    if first_byte is None:
        print(f"model.onnx: identical ({len(onnx[0])} bytes)")
    else:
        print(
            f"model.onnx: differs ({len(onnx[0])} vs {len(onnx[1])} bytes, "
            f"first difference at byte {first_byte})"
        )
    identical = not found and first_byte is None
    check.say("determinism: " + ("bit-identical" if identical else "NOT bit-identical"))
    return {
        "device": kept[0]["device"],
        "test_accuracy": [k["final"]["test_accuracy"] for k in kept],
        "metrics_differences": found,
        "onnx_bytes": [len(o) for o in onnx],
        "onnx_first_difference": first_byte,
        "bit_identical": identical,
    }


def step4_agents(check: Check) -> dict:
    pipelines = []
    for per_gpu in (1, 2):
        if check.cpu_only and per_gpu == 2:  # per_gpu means nothing without a GPU
            print("agents.per_gpu: 2 not run (--cpu-only)")
            break
        check.say(f"-- agents.device: {check.device}, agents.per_gpu: {per_gpu}")
        workdir = (
            check.default
            if per_gpu == 1
            else check.workdir(
                f"agents-{per_gpu}",
                {
                    "data": {"source": "bundled"},
                    "agents": {"device": check.device, "per_gpu": per_gpu},
                    **check.tiny_sweep(),
                },
            )
        )
        try:
            pipeline(check, workdir, "gpu-check.yaml")
            pipelines.append({"per_gpu": per_gpu, **agents(check, workdir)})
        except StepFailed as err:  # the other pipeline still runs
            pipelines.append({"per_gpu": per_gpu, "failed": str(err)})
    return {
        "pipelines": pipelines,
        **failing(
            [f"agents.per_gpu {p['per_gpu']}: {p['failed']}" for p in pipelines if "failed" in p]
        ),
    }


def agents(check: Check, workdir: Path) -> dict:
    """The device and GPU slot each agent of a pipeline's working directory took, from the
    agents' summaries; two agents holding one slot at once is a failure."""
    from snakesweep import paths

    summaries = sorted(Path(workdir).glob(paths.agent_output("*")))
    if not summaries:
        print(f"no {paths.agent_output('*')} in {workdir}")
        raise StepFailed(f"no {paths.agent_output('*')}")
    found, held = [], []
    for summary_path in summaries:
        summary = json.loads(summary_path.read_text())
        slot, (taken, freed) = summary["gpu_slot"], summary["device_held"]
        where = f"GPU {slot['gpu']} slot {slot['slot']} of {slot['of']}" if slot else "no GPU slot"
        check.say(
            f"agent {summary['agent']}: device {summary['device']} ({where}), "
            f"{len(summary['runs'])} runs, CUDA_VISIBLE_DEVICES={summary['cuda_visible_devices']}, "
            f"held {taken[11:19]}-{freed[11:19]}"
        )
        found.append(
            {
                "agent": summary["agent"],
                "device": summary["device"],
                "slot": slot,
                "runs": len(summary["runs"]),
                "cuda_visible_devices": summary["cuda_visible_devices"],
                "held": [taken, freed],
            }
        )
        if slot:
            held.append((slot["gpu"], slot["slot"], taken, freed, summary["agent"]))
    clashes = [
        (a, b)
        for i, a in enumerate(held)
        for b in held[i + 1 :]
        if a[:2] == b[:2] and a[2] < b[3] and b[2] < a[3]  # ISO times in UTC sort as times
    ]
    for a, b in clashes:
        check.say(f"FAILED: agents {a[4]} and {b[4]} held GPU {a[0]} slot {a[1]} at the same time")
    return {
        "agents": found,
        **failing(
            [f"agents {a[4]} and {b[4]} held GPU {a[0]} slot {a[1]} at once" for a, b in clashes]
        ),
    }


def mnist_folder(check: Check) -> Path | None:
    """The MNIST folder for step 5, or None (then the bundled sample is used)."""
    candidates = (
        check.mnist,
        REPO.parent / "shared" / "data" / "mnist",
        REPO / "benchmarks" / "out" / "mnist",
    )
    return next((Path(c).resolve() for c in candidates if c and Path(c).is_dir()), None)


def step5_full_mnist(check: Check) -> dict:
    folder = mnist_folder(check)
    if folder:
        data = {
            "source": "local",
            "path": str(folder),
            **({"fraction": 0.05} if check.cpu_only else {}),
        }
    else:
        check.say(
            "no MNIST folder (--mnist, $MNIST_DIR, ../shared/data/mnist, benchmarks/out/mnist): "
            "the bundled "
            "5,000-digit sample instead, so this is NOT full MNIST"
        )
        data = {"source": "bundled"}
    agent_settings = {"device": check.device}
    if check.cpu_only:
        agent_settings["count"] = 1
        print(f"--cpu-only: 1 run of 1 epoch by 1 agent{' on 5% of MNIST' if folder else ''}")
    workdir = check.workdir(
        "full-mnist", {"data": data, "agents": agent_settings, **check.tiny_sweep()}, rates=(0.002,)
    )
    pipeline(check, workdir, "configs/full-mnist.yaml", "gpu-check.yaml")
    return {"mnist_folder": str(folder) if folder else None, **trials(check, workdir)}


def trials(
    check: Check, workdir: Path, goal_accuracy: float = 0.99, goal_seconds: float = 5.0
) -> dict:
    """Each run's test accuracy and seconds per trial, and whether the best met the goal (a
    finding); a run that did not finish is a failure."""
    from snakesweep import paths

    runs = sorted((Path(workdir) / paths.RUNS_DIR).glob(f"*/{paths.RUN_METRICS}"))
    if not runs:
        print(f"no {paths.RUNS_DIR}/*/{paths.RUN_METRICS} in {workdir}")
        raise StepFailed(f"no {paths.RUNS_DIR}/*/{paths.RUN_METRICS}")
    manifest = json.loads((Path(workdir) / paths.MANIFEST).read_text())
    counts = {split: manifest["counts"][split]["total"] for split in ("train", "val", "test")}
    check.say(
        f"data: {manifest['source']['source']} source "
        f"{manifest['source'].get('path', '')}, {counts}"
    )
    found, unfinished = [], []
    for metrics_path in runs:
        m, run = json.loads(metrics_path.read_text()), metrics_path.parent.name
        if m["state"] != "finished":
            print(f"run {run}: {m['state']} ({m['reason']})")
            unfinished.append(run)
            continue
        t, accuracy = m["timing"], m["final"]["test_accuracy"]
        print(
            f"run {run}: device {m['device']}, {m['final']['epochs_completed']} epochs, "
            f"test_accuracy {accuracy:.4f}, {t['total_seconds']:.2f} s per trial "
            f"(train {t['train_seconds']:.2f} s, {t['samples_per_second']:.0f} samples/s)"
        )
        found.append(
            {
                "run": run,
                "device": m["device"],
                "test_accuracy": accuracy,
                "seconds": t["total_seconds"],
                "samples_per_second": t["samples_per_second"],
            }
        )
    findings = {"data": manifest["source"], "counts": counts, "runs": found}
    best = max(found, key=lambda r: r["test_accuracy"], default=None)
    if best:
        met = findings["goal_met"] = (
            best["test_accuracy"] >= goal_accuracy and best["seconds"] < goal_seconds
        )
        check.say(
            f"best: run {best['run']} test_accuracy {best['test_accuracy']:.4f} "
            f"in {best['seconds']:.2f} s; "
            f"goal (>= {goal_accuracy} in < {goal_seconds} s per trial): "
            f"{'met' if met else 'not met'}"
        )
    return {**findings, **failing([f"run {run} did not finish" for run in unfinished])}


STEPS = (
    (0, "environment and dependencies", step0_preflight),
    (1, "nvidia-smi, torch, CUDA and cuDNN versions", step1_versions),
    (2, "training throughput, GPU vs CPU", step2_throughput),
    (3, "determinism: the default run config twice, same seed, on {device}", step3_determinism),
    (4, "the default pipeline on {device}: the device each agent used", step4_agents),
    (
        5,
        "full MNIST from data.source: local: test accuracy and seconds per trial",
        step5_full_mnist,
    ),
)


def run_step(check: Check, number: int, title: str, function) -> dict:
    """One step, timed; whatever goes wrong in it is recorded, so that the next step still runs."""
    print(f"\n== step {number}: {title} ==")
    check.verdicts = []
    started = time.monotonic()
    try:
        findings = function(check)
    except StepFailed as err:
        findings = {"failed": str(err)}
    except Exception as err:  # a bug in one step must not cost the others their GPU time
        traceback.print_exc(file=sys.stdout)
        findings = {"failed": f"{type(err).__name__}: {err}"}
    seconds = round(time.monotonic() - started)
    print(f"-- step {number} {'FAILED' if 'failed' in findings else 'ok'} ({seconds} s)")
    return {
        "step": number,
        "title": title,
        "ok": "failed" not in findings,
        "seconds": seconds,
        "findings": findings,
        "verdict": check.verdicts,
    }


def run_steps(check: Check) -> list[dict]:
    results = []
    for number, title, function in STEPS:
        if number == 2 and not check.cpu_only and not results[1]["ok"]:
            print("no usable GPU: steps 2-5 not run")
            break
        results.append(run_step(check, number, title.format(device=check.device), function))
    return results


def prepare(check: Check) -> None:
    """The scratch copy of the working tree, imported by this process and every job it starts
    (the virtualenv's editable install points at the user's checkout), and the default
    pipeline's copy of it."""
    from workcopy import copy_checkout

    copy_checkout(check.tree)
    sys.path.insert(0, str(check.tree / "src"))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(check.tree / "src"), os.environ.get("PYTHONPATH")])
    )
    # snakemake's `script:` jobs and `snakesweep` use this Python
    os.environ["PATH"] = os.pathsep.join(
        [str(Path(check.python).parent), os.environ.get("PATH", "")]
    )
    check.workdir(
        "default",
        {
            "data": {"source": "bundled"},
            "agents": {"device": check.device, "per_gpu": 1},
            **check.tiny_sweep(),
        },
    )


def interpreter() -> str:
    """$PYTHON, else this checkout's .venv/bin/python, else the Python running this script."""
    if os.environ.get("PYTHON"):
        found = shutil.which(os.environ["PYTHON"])
        if not found:
            print(f"gpu_check.py: no Python at {os.environ['PYTHON']}", file=sys.stderr)
            sys.exit(2)
        return os.path.abspath(found)
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if os.access(venv, os.X_OK) else sys.executable


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cpu-only", action="store_true", help="the steps on the CPU at tiny size (a smoke test)"
    )
    parser.add_argument(
        "--mnist",
        default=os.environ.get("MNIST_DIR") or None,
        metavar="DIR",
        help="the folder with MNIST's four IDX files for step 5 (default: $MNIST_DIR)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="where gpu-check.txt and gpu-check.json go"
    )
    return parser.parse_args()


def run_in_scratch(check: Check, keep: bool) -> list[dict]:
    """Every step's result, in a scratch folder that is removed afterwards unless `keep`."""
    try:
        prepare(check)
        return run_steps(check)
    finally:
        if keep:
            print(f"scratch folder kept: {check.scratch}")
        else:
            shutil.rmtree(check.scratch, ignore_errors=True)


def summarize(out: Path, results: list[dict], seconds: int) -> list[int]:
    """Prints each step's verdict lines again, where the reports are, and the verdict; returns
    the failed steps."""
    print("\n== summary ==")
    for result in results:
        for line in result["verdict"]:
            print(line)
        if not result["ok"]:
            print(f"FAILED step {result['step']}: {result['findings']['failed']}")
    failed = [result["step"] for result in results if not result["ok"]]
    print(f"reports: {out / REPORT}.txt and .json")
    verdict = f"FAILED steps: {' '.join(map(str, failed))}" if failed else "all steps ok"
    print(f"{verdict} (total {seconds} s)")
    return failed


def main() -> int:
    args = parse_args()
    python = interpreter()
    if python != os.path.abspath(sys.executable):  # steps 0 and 1 check the Python that runs them
        os.environ["PYTHON"] = python
        os.execv(python, [python, __file__, *sys.argv[1:]])
    sys.dont_write_bytecode = (
        True  # importing workcopy and snakesweep writes nothing into a checkout
    )
    out = args.out or Path(tempfile.mkdtemp(prefix=f"{REPORT}-report-"))
    out.mkdir(parents=True, exist_ok=True)
    check = Check(python, args.cpu_only, args.mnist, Path(tempfile.mkdtemp(prefix=f"{REPORT}.")))
    started = time.monotonic()
    with (
        open(out / f"{REPORT}.txt", "w") as text,
        contextlib.redirect_stdout(Tee(sys.stdout, text)),
        contextlib.redirect_stderr(sys.stdout),
    ):
        results = run_in_scratch(check, args.keep)
        text.flush()
        failed = summarize(out, results, round(time.monotonic() - started))
    report = {
        "cpu_only": check.cpu_only,
        "python": python,
        "steps": results,
        "failed": failed,
        "total_seconds": round(time.monotonic() - started),
    }
    (out / f"{REPORT}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
