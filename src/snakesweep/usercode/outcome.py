"""How a run of the user's code ended, as the store records it: its state, summary and reason,
and the digest of every file it wrote."""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from snakesweep import paths

STDERR_LINES = 5  # how much of a failed run's stderr its reason quotes
API_KEY_ENV = "WANDB_API_KEY"


@dataclass
class Watched:
    """What a run did, as read from its wandb log while it ran."""

    rows: list[dict] = field(default_factory=list)  # every logged row, in order
    summary: dict = field(default_factory=dict)  # what the code set in its run's summary
    iterations: int = 0  # logged values of the sweep metric
    ended: str = "exited"  # exited, stopped (early termination) or timed_out
    exit_code: int | None = None
    logs: int = 0  # wandb logs found under the run's WANDB_DIR


def judge(
    watched: Watched, metric: str | None, timeout: float | None, stderr: Path, files: Path
) -> dict:
    """The run's outcome for the store: state, summary, reason, and the files it wrote."""
    summary = last_values(watched.rows)
    if watched.ended == "exited":
        summary.update(plain_row(watched.summary))
    outcome = {
        "state": "finished",
        "summary": summary,
        "reason": None,
        "artifacts": digest_files(files),
    }
    if watched.ended == "stopped":
        why = (
            f"stopped early after iteration {watched.iterations} of {metric} "
            "(the sweep's early termination)"
        )
        outcome.update(state="stopped", reason=why)
    elif watched.ended == "timed_out":
        why = f"timed out after {timeout:g} s (sweep.run_timeout); ended with its child processes"
        outcome.update(state="failed", reason=why)
    elif watched.exit_code != 0:
        outcome.update(
            state="failed", reason=f"{_exit_text(watched.exit_code)}: {stderr_tail(stderr)}"
        )
    elif metric is not None and not watched.iterations and not is_number(summary.get(metric)):
        why = f"never logged the sweep metric {metric!r} with wandb.log"
        if not watched.logs:
            why += (
                "; no wandb log was found under its WANDB_DIR: a wandb.init(dir=...) elsewhere, "
                'or mode="disabled", hides what it logs'
            )
        outcome.update(state="failed", reason=why)
    elif (files / paths.ONNX_FILE).exists():
        outcome.update(_check_onnx(files / paths.ONNX_FILE, outcome["artifacts"]))
    return outcome


def _check_onnx(path: Path, artifacts: dict) -> dict:
    """A model.onnx the run wrote is published only once onnxruntime has loaded it."""
    import onnxruntime

    try:
        onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001 - onnxruntime raises its own exception types
        return {
            "state": "failed",
            "reason": f"{paths.RUN_FILES}/{paths.ONNX_FILE} does not load in onnxruntime: {err}",
        }
    return {"onnx_sha256": artifacts[f"{paths.ONNX_FILE}"]}


def last_values(rows: list[dict]) -> dict:
    """W&B's default summary: each key's last logged value (wandb's own `_` keys left out)."""
    last: dict = {}
    for row in rows:
        last.update(row)
    return plain_row(last)


def plain_row(row: dict) -> dict:
    """A logged row as the store and the leaderboard hold it: single values only (numbers,
    strings, booleans: a histogram or a table that `wandb.watch` or the user logged stays in
    wandb's own log), no wandb-internal `_` keys but `_step` (`_runtime` and `_timestamp` differ
    on every run; `x._type` marks a W&B object), and NaN or infinity as the strings "nan", "inf"
    and "-inf" (JSON has no such numbers; a string is never ranked)."""
    return {
        k: _plain(v)
        for k, v in row.items()
        if (k == "_step" or not any(part.startswith("_") for part in k.split(".")))
        and (v is None or isinstance(v, (int, float, str)))
    }


def _plain(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def digest_files(folder: Path) -> dict[str, str]:
    """sha256 of every file the run wrote, by its path in `files/` (for `snakesweep verify`)."""
    digests = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        with open(path, "rb") as handle:
            digests[path.relative_to(folder).as_posix()] = hashlib.file_digest(
                handle, "sha256"
            ).hexdigest()
    return digests


def stderr_tail(path: Path, lines: int = STDERR_LINES) -> str:
    """The last lines of the run's stderr, with the W&B API key (if set) blanked out."""
    text = path.read_text(errors="replace") if path.exists() else ""
    kept = [line.strip()[:300] for line in text.splitlines() if line.strip()][-lines:]
    tail = " | ".join(kept) if kept else "(nothing on stderr)"
    key = os.environ.get(API_KEY_ENV)
    return tail.replace(key, "***") if key else tail


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by signal {-code}"
    return f"exit code {code}"
