"""snakesweep installed the ordinary way, from a wheel and not editable, into a fresh virtual
environment, and used in the user's own folder: an empty folder, the README's two commands
(`snakesweep init`, which writes the digits example's `train.py` and `sweep.yaml` there, and
`snakemake --cores 4`), and the sweep ends offline with a leaderboard that `snakesweep status`
and `snakesweep verify` read, with no data stage: no `resources/`, no MNIST download, no
`results/data/`. The same folder plans its agent jobs under `--profile slurm`. No module of the
installed package reads a file outside the package and the user's folder."""

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from workflow_helpers import INIT_EXAMPLE, REPO

pytestmark = pytest.mark.slow


def _run(*args, cwd, env, timeout=900) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{args}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(the fresh environment's bin folder, its environment variables). It sees the
    dependencies already installed here (their site-packages on its path, after its own), and
    snakesweep only from the wheel built from this checkout."""
    root = tmp_path_factory.mktemp("installed")
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        str(root / "dist"),
        str(REPO),
        cwd=root,
        env=os.environ,
    )
    _run(
        sys.executable, "-m", "venv", "--without-pip", str(root / "venv"), cwd=root, env=os.environ
    )
    bin_dir = root / "venv" / "bin"
    site = Path(
        _run(
            str(bin_dir / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            cwd=root,
            env=os.environ,
        ).stdout.strip()
    )
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (wheel,) = (root / "dist").glob("snakesweep-*.whl")
    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(bin_dir / "python"),
        "install",
        "--no-deps",
        "--no-index",
        "-q",
        str(wheel),
        cwd=root,
        env=os.environ,
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])
    where = _run(
        str(bin_dir / "python"),
        "-c",
        "import snakesweep; print(snakesweep.__file__)",
        cwd=root,
        env=env,
    )
    assert Path(where.stdout.strip()).is_relative_to(site), (
        where.stdout
    )  # the wheel's, not this checkout's
    return bin_dir, env


@pytest.fixture(scope="module")
def project(installed, tmp_path_factory):
    """An empty folder after the two documented commands."""
    bin_dir, env = installed
    folder = tmp_path_factory.mktemp("project")
    init = _run(str(bin_dir / "snakesweep"), "init", cwd=folder, env=env)
    for name in ("Snakefile", "sweep.yaml", "train.py"):
        assert f"written  {name}" in init.stdout, init.stdout
    for name in ("train.py", "sweep.yaml"):
        assert (folder / name).read_bytes() == (INIT_EXAMPLE / name).read_bytes(), name
    # the README's `snakemake --cores 4`, with the fresh environment's Python (which has no
    # snakemake script of its own: it sees the package, installed here, through its path)
    run = _run(str(bin_dir / "python"), "-m", "snakemake", "--cores", "4", cwd=folder, env=env)
    return folder, run


def test_two_commands_from_an_empty_folder_sweep_with_no_data_stage(installed, project):
    bin_dir, env = installed
    folder, run = project
    assert "snakesweep: sweep local-" in run.stdout and "best run" in run.stdout
    rows = (folder / "results/leaderboard.csv").read_text().splitlines()
    assert rows[0].startswith("rank,run_id,state,val_loss,hidden,learning_rate")
    assert len(rows) == 1 + 12  # the example's run_cap
    assert (
        json.loads((folder / "results/sweep/sweep.json").read_text())["objective"]["kind"]
        == "program"
    )
    # the program reads its own data: no MNIST was fetched, split or downloaded
    assert not (folder / "resources").exists() and not (folder / "results/data").exists()
    assert "download_mnist" not in run.stdout and "subsample" not in run.stdout
    status = _run(str(bin_dir / "snakesweep"), "status", cwd=folder, env=env).stdout
    assert "metric val_loss (minimize)" in status and "elapsed" in status and "done" in status
    verify = _run(str(bin_dir / "snakesweep"), "verify", cwd=folder, env=env).stdout
    assert "verified: 12 runs" in verify
    init_again = _run(str(bin_dir / "snakesweep"), "init", cwd=folder, env=env).stdout
    assert "written" not in init_again  # nothing is overwritten


def test_the_project_plans_its_agent_jobs_on_slurm(installed, project):
    bin_dir, env = installed
    folder, _ = project
    plan_env = {k: v for k, v in env.items() if k != "SLURM_CONF"}
    dry = _run(
        str(bin_dir / "python"),
        "-m",
        "snakemake",
        "-n",
        "--profile",
        "slurm",
        "--forcerun",
        "agent",
        cwd=folder,
        env=plan_env,
    ).stdout
    stats = dry.split("Job stats:")[1]
    assert any(line.split() == ["agent", "2"] for line in stats.splitlines()), stats


PROBE = """
import importlib, pkgutil, sys
from pathlib import Path
import snakesweep
package = Path(snakesweep.__file__).parent
for info in pkgutil.walk_packages([str(package)], "snakesweep."):
    if info.name.endswith(".wandb_service"):
        continue  # imported for its side effect (it starts wandb's service)
    module = importlib.import_module(info.name)
    for name, value in vars(module).items():
        if isinstance(value, Path) or (isinstance(value, str) and value.startswith("/")):
            path = Path(value)
            inside = path.is_relative_to(package) or path.is_relative_to(Path.cwd())
            kernel = path.is_relative_to("/proc")  # the kernel's view (mount table), no file
            if path.is_absolute() and not (inside or kernel):
                print(f"{info.name}.{name} = {value}")
"""


def test_no_module_reads_a_path_outside_the_package_and_the_users_folder(installed, tmp_path):
    bin_dir, env = installed
    probe = _run(str(bin_dir / "python"), "-c", PROBE, cwd=tmp_path, env=env)
    assert probe.stdout == "", probe.stdout
