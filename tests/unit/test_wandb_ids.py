"""W&B run ids: the same for every attempt of a run and every rerun of its sweep, different in
every other sweep (W&B merges a synced run into the run of the same id)."""

from snakesweep.wandb_ids import wandb_run_id


def test_a_runs_wandb_id_is_stable_and_disjoint_between_sweeps():
    runs = [f"{index:04d}-{digest}" for index in range(50) for digest in ("0a1b2c3d", "ffee0011")]
    first = [wandb_run_id("local-aaaaaaaaaaaa", run) for run in runs]
    second = [wandb_run_id("local-bbbbbbbbbbbb", run) for run in runs]
    assert first == [wandb_run_id("local-aaaaaaaaaaaa", run) for run in runs]  # a rerun
    assert len(set(first)) == len(runs) and not set(first) & set(second)
    assert all(
        wid.startswith(run) and wid.replace("-", "").isalnum()
        for wid, run in zip(first, runs, strict=True)
    )
