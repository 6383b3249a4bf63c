"""Run the real pipeline in a scratch copy of this working tree (shared by the benchmarks).

The copy is of the working tree, not a `git clone`, so uncommitted work is measured too; the
virtualenv, results/, resources/ and .snakemake/ are left out, so every run starts cold.
"""

from __future__ import annotations

import compileall
import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SKIPPED = (".venv", ".git", "results", "resources", ".snakemake", "__pycache__", "*.egg-info", ".pytest_cache")


def copy_tree(dest: Path) -> Path:
    """The copy, with its src/ byte-compiled as an installed checkout's would be after its first
    run (the jobs import the copy's src/, see run_snakemake)."""
    shutil.copytree(REPO, dest, ignore=shutil.ignore_patterns(*SKIPPED), symlinks=True)
    compileall.compile_dir(dest / "src", quiet=1)
    return dest


def run_snakemake(workdir: Path, overrides: dict | None = None, cores: int = 2) -> float:
    """Snakemake's elapsed seconds for the default target, with `overrides` as a config file."""
    args = [sys.executable, "-m", "snakemake", "--cores", str(cores)]
    if overrides:
        (workdir / "bench-config.yaml").write_text(yaml.safe_dump(overrides))
        args += ["--configfile", "bench-config.yaml"]
    # The copy's own src/ first: the virtualenv's editable install points at this checkout's.
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(workdir).resolve() / "src"), os.environ.get("PYTHONPATH")])),
    }
    started = time.perf_counter()
    result = subprocess.run(args, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"snakemake failed in {workdir}:\n{result.stdout[-4000:]}")
    return elapsed


def job_benchmarks(workdir: Path) -> dict[str, dict]:
    """Snakemake's `benchmark:` row of every job: wall seconds `s` and `cpu_time`."""
    rows = {}
    for path in sorted((workdir / "results" / "benchmarks").glob("*.tsv")):
        with open(path) as handle:
            row = next(csv.DictReader(handle, delimiter="\t"))
        rows[path.stem] = {"s": float(row["s"]), "cpu_time": float(row["cpu_time"])}
    return rows
