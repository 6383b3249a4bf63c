"""The lines snakemake prints at the end (the Snakefile's onsuccess: and onerror:)."""

import json

from snakesweep import paths
from snakesweep.summary import failure_summary, success_summary

BEST = {
    "run_id": "0003-abcdef12",
    "sweep_id": "local-123",
    "metric": {"name": "val_loss", "goal": "minimize", "source": "sweep", "value": 0.0812345},
    "test_accuracy_onnxruntime": 0.9731,
    "test_images": 1000,
    "onnx_sha256": "ab" * 32,
}


def test_success_summary_says_what_was_found_and_where(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert success_summary() == ""  # nothing aggregated (only the data stage was asked for)
    (tmp_path / paths.BEST_DIR).mkdir(parents=True)
    (tmp_path / paths.BEST_RUN).write_text(json.dumps(BEST))
    (tmp_path / paths.LEADERBOARD).write_text(
        "rank,run_id,state\n1,a,finished\n2,b,stopped\n,c,failed\n3,d,finished\n"
    )
    lines = success_summary().splitlines()
    assert lines[0] == "snakesweep: sweep local-123 done, 4 runs (1 failed, 2 finished, 1 stopped)"
    assert lines[1].split() == [
        "best",
        "run",
        "0003-abcdef12:",
        "val_loss",
        "=",
        "0.0812345",
        "(minimize)",
    ]
    assert "0.9731 (onnxruntime, 1000 test images)" in lines[2]
    text = "\n".join(lines)
    for path in (
        paths.BEST_MODEL,
        paths.MODEL_CARD,
        paths.LEADERBOARD,
        paths.PLOTS_DIR,
        "snakemake --report report.html",
    ):
        assert path in text


def test_failure_summary_points_at_the_logs():
    text = failure_summary()
    assert f"{paths.LOGS}/<job>.log" in text and f"{paths.LOGS}/agent-<n>.log" in text
    assert len(text.splitlines()) == 1
