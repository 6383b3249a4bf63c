"""Test accuracy by onnxruntime on genuine MNIST: the W&B intro reproduced, and the full sweep.

Runs the whole pipeline (real snakemake) in a scratch copy of this tree on a local MNIST copy
and prints the best model's onnxruntime test accuracy from results/best/best_run.json, with the
elapsed and CPU time of every job (Snakemake's `benchmark:` files):

    python benchmarks/accuracy.py                    # intro: 5 epochs on 12k digits; W&B: 98.05%
    python benchmarks/accuracy.py --sweep full-mnist # all 60k digits; goal: at least 99.0%

`--mnist` is the folder with the four IDX files (default ../shared/data/mnist beside the repo).
CPU-heavy (the full sweep takes several minutes on 2 cores): run it once, on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import yaml
from workcopy import REPO, copy_checkout, job_benchmarks, run_snakemake

TARGETS = {"intro": ("the W&B intro's published", 0.9805), "full-mnist": ("the goal", 0.990)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", choices=sorted(TARGETS), default="intro")
    parser.add_argument("--mnist", type=Path, default=REPO.parent / "shared" / "data" / "mnist")
    parser.add_argument(
        "--keep", type=Path, help="run in this folder and keep it (default: a temporary one)"
    )
    args = parser.parse_args()
    overrides = yaml.safe_load((REPO / "configs" / f"{args.sweep}.yaml").read_text())
    overrides["data"]["path"] = str(args.mnist.resolve())

    with tempfile.TemporaryDirectory(prefix="snakesweep-accuracy-") as tmp:
        work = copy_checkout((args.keep or Path(tmp)) / "work", compiled=True)
        elapsed = run_snakemake(work, overrides)
        best = json.loads((work / "results" / "best" / "best_run.json").read_text())
        jobs = job_benchmarks(work)
    what, target = TARGETS[args.sweep]
    accuracy = best["test_accuracy_onnxruntime"]
    print(
        f"sweep {args.sweep} on {args.mnist}: best run {best['run_id']} {json.dumps(best['swept'])}"
    )
    print(
        f"test accuracy (onnxruntime, {best['test_images']} images): {accuracy:.4f}   "
        f"{what}: {target:.4f}   {'REACHED' if accuracy >= target else 'NOT REACHED'}"
    )
    print(
        f"snakemake elapsed {elapsed:.1f} s; "
        f"CPU time of all jobs {sum(j['cpu_time'] for j in jobs.values()):.1f} s"
    )
    for name, job in jobs.items():
        print(f"  {name:16s} {job['s']:7.1f} s elapsed {job['cpu_time']:7.1f} s CPU")


if __name__ == "__main__":
    main()
