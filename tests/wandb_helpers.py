"""Read an offline W&B run back the way its users would: with wandb's own `wandb leet inspect`,
so the tests check what wandb itself wrote, not our reading of it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

WANDB = Path(sys.executable).with_name("wandb")


def _inspect(run_dir: Path, *flags: str) -> str:
    return subprocess.run(
        [str(WANDB), "leet", "inspect", *flags, "--json", str(run_dir)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


def summary(run_dir: Path) -> dict:
    """The run's summary record, as wandb keeps it."""
    return json.loads(_inspect(run_dir, "--summary"))


def history(run_dir: Path) -> list[dict]:
    """Every logged row, without wandb's own timing keys."""
    records = (json.loads(line) for line in _inspect(run_dir).splitlines() if line.strip())
    return [
        {
            key: value
            for key, value in record["history"]["item"].items()
            if key not in ("_runtime", "_timestamp")
        }
        for record in records
        if record["type"] == "history"
    ]
