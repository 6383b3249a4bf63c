"""`method: custom` with Optuna: loading and errors as W&B's scheduler, Optuna's own configs."""

import math
from pathlib import Path

import optuna
import pytest
import yaml
from wandb.sdk.sweeps.scheduler.optuna import sweep_parameter_to_distribution

from snakesweep.errors import UserError
from snakesweep.record.state import FINISHED, Run
from snakesweep.sweep.custom import load_scheduler
from snakesweep.sweep.optuna_engine import OptunaEngine
from snakesweep.sweep.spec import load_sweep_file

SOURCE = str(Path(__file__).parent / "optuna_sources" / "study.py")
PARAMETERS = {
    "x": {"min": -5.0, "max": 5.0},
    "n": {"values": [1, 2, 3]},
    "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
    "layers": {"distribution": "int_uniform", "min": 1, "max": 4},
    "width": {"distribution": "q_uniform", "min": 8, "max": 64, "q": 8},
    "fixed": {"value": "adam"},
}


def custom(optimizer="tpe", **fields) -> dict:
    scheduler = {"engine": "optuna", "source": SOURCE}
    if optimizer:
        scheduler["optimizer"] = optimizer
    return {
        "method": "custom",
        "metric": {"name": "loss", "goal": "minimize"},
        "scheduler": scheduler,
        "parameters": PARAMETERS,
        **fields,
    }


def loss(config: dict) -> float:
    """A deterministic objective of any config these tests make."""
    return sum(
        (v - 1) ** 2 if isinstance(v, float) else len(str(v)) for v in config.values()
    ) + math.log(config.get("lr", 1.0))


def run_of(index: int, config: dict, **fields) -> Run:
    fields = {"state": FINISHED, "summary": {"loss": loss(config)}, **fields}
    return Run(run_id=f"{index:04d}", index=index, config=config, engine_config={}, agent="a",
               **fields)  # fmt: skip


def sweep_of(engine, count: int) -> list[Run]:
    runs: list[Run] = []
    for k in range(count):
        runs.append(run_of(k, engine.suggest(runs, k)[0]))
    return runs


def test_declarative_parameters_become_wandbs_own_distributions():
    scheduler = load_scheduler(custom(), "sweep.yaml")
    assert scheduler.distributions == {
        name: sweep_parameter_to_distribution(spec) for name, spec in PARAMETERS.items()
    }


def declared(trial) -> dict:
    """PARAMETERS written as an Optuna objective would suggest them."""
    return {
        "x": trial.suggest_float("x", -5.0, 5.0),
        "n": trial.suggest_categorical("n", [1, 2, 3]),
        "lr": trial.suggest_float("lr", 1e-4, 1e-1, log=True),
        "layers": trial.suggest_int("layers", 1, 4),
        "width": trial.suggest_int("width", 8, 64, step=8),
        "fixed": trial.suggest_categorical("fixed", ["adam"]),
    }


def optimized(space, sampler, count: int) -> list[dict]:
    """The configs Optuna's own `study.optimize` tries, in order."""
    configs: list[dict] = []

    def objective(trial):
        configs.append(space(trial))
        return loss(configs[-1])

    optuna.create_study(sampler=sampler).optimize(objective, n_trials=count)
    return configs


@pytest.mark.parametrize("define_by_run", [False, True])
def test_a_seeded_tpe_suggests_what_optunas_own_optimize_does(define_by_run):
    """Parallelism 0 (each suggestion sees every earlier result) is `study.optimize`."""
    from optuna_sources.study import conditional

    scheduler = {"engine": "optuna", "source": SOURCE, "optimizer": "tpe"}
    if define_by_run:
        scheduler["search_space"] = "conditional"
    config = custom(scheduler=scheduler)
    engine = OptunaEngine(load_scheduler(config, "sweep.yaml"), 0, 1)
    ours = [run.config for run in sweep_of(engine, 24)]
    space = conditional if define_by_run else declared
    assert ours == optimized(space, optuna.samplers.TPESampler(seed=5), 24)
    assert len({str(c) for c in ours}) == 24


def test_an_unseeded_sampler_is_seeded_by_the_sweep():
    config = custom("tpe_unseeded")
    first = [r.config for r in sweep_of(OptunaEngine(load_scheduler(config, "s"), 7, 2), 14)]
    again = [r.config for r in sweep_of(OptunaEngine(load_scheduler(config, "s"), 7, 2), 14)]
    other = [r.config for r in sweep_of(OptunaEngine(load_scheduler(config, "s"), 8, 2), 14)]
    assert first == again
    assert first != other


def test_suggestion_k_sees_only_the_results_of_runs_up_to_k_minus_w():
    """Runs k-W+1..k-1 are in flight whatever they logged; and a fresh process (another agent)
    replays the asks it did not make and gives the same suggestion."""
    scheduler = load_scheduler(custom(), "s")
    runs = sweep_of(OptunaEngine(scheduler, 1, 3), 15)
    changed = [*runs[:13], *(run_of(k, r.config, summary={"loss": -1e9}) for k, r in
                             enumerate(runs[13:], 13))]  # fmt: skip
    fresh = OptunaEngine(scheduler, 1, 3)
    assert fresh.suggest(changed, 15) == OptunaEngine(scheduler, 1, 3).suggest(runs, 15)
    assert fresh.suggest(changed[:14], 14)[0] == runs[14].config  # asked again: rebuilt


def test_two_objectives_with_nsga2_are_reproducible():
    config = custom("nsga2", metrics=[{"name": "loss"}, {"name": "size"}])
    del config["metric"]
    engine = OptunaEngine(load_scheduler(config, "s"), 0, 1)
    assert not engine.prunes
    runs: list[Run] = []
    for k in range(12):
        c = engine.suggest(runs, k)[0]
        runs.append(run_of(k, c, summary={"loss": loss(c), "size": c["width"] * c["layers"]}))
    again = OptunaEngine(load_scheduler(config, "s"), 0, 1)
    assert again.suggest(runs[:11], 11)[0] == runs[11].config


def hyperband_engine(parallelism: int) -> OptunaEngine:
    return OptunaEngine(load_scheduler(custom("tpe_hyperband"), "s"), 0, parallelism)


def curve(index: int, level: float, steps: int = 8) -> Run:
    history = [{"step": s, "value": level + 1 / s} for s in range(1, steps + 1)]
    return run_of(index, {"x": level}, history=history, summary={"loss": level})


def test_hyperband_prunes_a_bad_run_from_its_history_and_the_settled_peers_only():
    engine = hyperband_engine(1)
    peers = [curve(k, 0.1 * k) for k in range(8)]
    bad = curve(9, 5.0)
    decisions = [engine.should_stop(bad, s, peers) for s in range(1, 9)]
    assert any(decisions)
    assert decisions == [hyperband_engine(1).should_stop(bad, s, peers) for s in range(1, 9)]
    good = curve(9, -1.0)
    assert not any(engine.should_stop(good, s, peers) for s in range(1, 9))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"scheduler": {"engine": "optuna", "source": "nope.py", "optimizer": "tpe"}},
         "scheduler.source"),
        ({"scheduler": {"engine": "optuna", "source": SOURCE, "optimizer": "not_a_study"}},
         "scheduler.optimizer"),
        ({"scheduler": {"engine": "optuna", "source": SOURCE, "optimizer": "maximizing"}},
         "metric"),
        ({"scheduler": {"engine": "wandb"}}, "scheduler.engine"),
        ({"scheduler": {"engine": "ax"}}, "scheduler.engine"),
        ({"parameters": {"x": {"distribution": "normal", "mu": 0, "sigma": 1}}}, "parameters"),
    ],
)  # fmt: skip
def test_errors_are_one_line_naming_the_file_and_the_field(tmp_path, change, field):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({**custom(), **change}))
    with pytest.raises(UserError) as info:
        load_sweep_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {field}")
    assert "\n" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.yaml"]


def test_metrics_directions_must_match_the_study(tmp_path):
    config = custom("tpe", metrics=[{"name": "loss"}, {"name": "size"}])
    del config["metric"]
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(UserError, match=r"sweep.yaml: metrics: Study has 1 objectives"):
        load_sweep_file(path)


def test_a_terminator_ends_the_sweep():
    engine = OptunaEngine(load_scheduler(custom("stops_after_three"), "s"), 0, 1)
    runs = sweep_of(engine, 3)
    assert engine.suggest(runs, 3) is None


def test_a_custom_sweep_waits_for_results_and_prunes_with_one_objective_only():
    from snakesweep.sweep.decide import Limits, policy_for

    limits = Limits(parallelism=2, heartbeat_timeout=60, max_attempts=3)
    single = policy_for(custom(), limits)
    assert single.waits_for_results and single.stops_early
    two = {**custom(), "metrics": [{"name": "loss"}, {"name": "size"}]}
    del two["metric"]
    assert not policy_for(two, limits).stops_early
