"""Run the real pipeline in a scratch copy of this working tree (for the benchmarks and the tests).

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
# What a run writes or builds, left out of a copy of a tree that is not a git checkout (in a
# checkout, .gitignore says the same): these paths from the top, and these names anywhere.
SKIPPED_PATHS = (".venv", ".git", "results", "resources", ".snakemake", "wandb", "benchmarks/out")
SKIPPED_NAMES = ("__pycache__", "*.egg-info", ".pytest_cache")


def copy_checkout(dest: Path, source: Path = REPO, compiled: bool = False) -> Path:
    """Every file a clone of `source` would hold: tracked files and new ones git does not ignore,
    uncommitted edits included (so a test or benchmark runs the tree, not the last commit). A
    `source` that is no git checkout (a copy made by this function, an unpacked archive) is
    copied whole, less what a run writes or builds. `compiled` byte-compiles the copy's src/ as
    an installed checkout's would be after its first run, so a timed run does not pay for it.
    Run the copy's own package by putting its src/ first on PYTHONPATH (see run_snakemake)."""
    names = git_files(source)
    if names is None:
        shutil.copytree(source, dest, ignore=skipped(source), symlinks=True)
    else:
        for name in names:
            path = source / name
            if path.is_symlink():  # as a link, as git keeps it (src/snakesweep/workflow, say)
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                (dest / name).symlink_to(os.readlink(path))
            elif path.is_file():  # a tracked file deleted in the tree is not copied
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest / name)
    if compiled:
        compileall.compile_dir(dest / "src", quiet=1)
    return dest


def skipped(source: Path):
    """copytree's `ignore` for SKIPPED_PATHS under `source` and SKIPPED_NAMES anywhere."""
    by_name = shutil.ignore_patterns(*SKIPPED_NAMES)

    def ignore(folder: str, names: list[str]) -> set[str]:
        where = Path(folder).relative_to(source)
        return by_name(folder, names) | {
            name for name in names if (where / name).as_posix() in SKIPPED_PATHS
        }

    return ignore


def git_files(source: Path) -> list[str] | None:
    """The files `git ls-files` lists for a clone of `source`, or None where `source` is not the
    top of a git checkout or git is missing."""
    if not (source / ".git").exists() or not shutil.which("git"):
        return None
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=source,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return list(filter(None, listed.split("\0")))


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
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(Path(workdir).resolve() / "src"), os.environ.get("PYTHONPATH")])
        ),
    }
    started = time.perf_counter()
    result = subprocess.run(
        args, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
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
