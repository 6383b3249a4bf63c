"""The workflow stays `snakemake --lint` and `snakefmt --check` clean."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from workflow_helpers import REPO

pytestmark = pytest.mark.slow  # starts snakemake or many processes: not in `make test-fast`


def test_snakemake_lint_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Lints for" not in output, output


def test_snakefmt_check_is_clean():
    snakefmt = shutil.which("snakefmt", path=str(Path(sys.executable).parent)) or shutil.which(
        "snakefmt"
    )
    assert snakefmt, "snakefmt is a dev dependency: pip install -e '.[dev]'"
    result = subprocess.run(
        [snakefmt, "--check", "."], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
