"""Search quality and suggestion time: W&B's bayes, random search and Optuna's TPE, side by side.

The same budget of runs on one cheap, deterministic objective (a bowl over a learning rate, a
batch size, a dropout and a layer count, with its minimum 0 inside the space), with each
engine as the local controller runs it (`snakesweep.sweep.engine` for bayes and random,
`snakesweep.sweep.optuna_engine` for `method: custom` with a seeded TPE), one run at a time
(declared parallelism 1), over 5 sweep seeds. It prints:

- the median (over seeds) best value after 10, 20 and 40 runs, per engine;
- the median and p99 time per suggestion once the sweep holds 100 and 1,000 runs, per engine,
  timed as a warm controller makes them (for TPE, after asking its way to that many runs).

    .venv/bin/python benchmarks/search_quality.py            # about 2 minutes on 2 cores
    .venv/bin/python benchmarks/search_quality.py --quick    # timed at 100 runs only
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

from snakesweep.record.state import FINISHED, Run
from snakesweep.sweep import engine
from snakesweep.sweep.custom import load_scheduler
from snakesweep.sweep.optuna_engine import OptunaEngine

PARAMETERS = {
    "learning_rate": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
    "batch_size": {"values": [16, 32, 64, 128, 256]},
    "dropout": {"min": 0.0, "max": 0.6},
    "layers": {"distribution": "int_uniform", "min": 1, "max": 4},
}
METRIC = {"name": "loss", "goal": "minimize"}
STUDY = """
import optuna

def study(sweep):
    # unseeded: snakesweep seeds it from the sweep seed, so each sweep seed is another search
    return optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler())
"""
SEEDS = range(5)
CHECKPOINTS = (10, 20, 40)


def loss(config: dict) -> float:
    return (
        (math.log10(config["learning_rate"]) + 2.5) ** 2
        + (math.log2(config["batch_size"]) - 5) ** 2 / 8
        + 4 * (config["dropout"] - 0.2) ** 2
        + 0.1 * (config["layers"] - 2) ** 2
    )


class Wandb:
    """bayes or random through the `sweeps` engine, as the controller calls it."""

    def __init__(self, method: str, seed: int):
        self.config = {"method": method, "metric": METRIC, "parameters": PARAMETERS}
        self.seed, self.views = seed, engine.EngineRuns("loss")
        self.sample = engine.RandomSampler(self.config) if method == "random" else None

    def suggest(self, runs: list[Run], index: int) -> dict:
        seen = [self.views.view(r, True) for r in runs] if self.sample is None else []
        made = engine.suggest(self.config, seen, self.seed, index, self.sample)
        return {name: spec["value"] for name, spec in made.items()}


class Tpe:
    def __init__(self, source: Path, seed: int):
        config = {
            "method": "custom",
            "metric": METRIC,
            "parameters": PARAMETERS,
            "scheduler": {"engine": "optuna", "source": str(source), "optimizer": "study"},
        }
        self.engine = OptunaEngine(load_scheduler(config, "benchmark"), seed, 1)

    def suggest(self, runs: list[Run], index: int) -> dict:
        return self.engine.suggest(runs, index)[0]


def sweep(
    make, count: int, timed_from: int | None = None, runs: list[Run] | None = None
) -> tuple[list[Run], list[float]]:
    """`count` runs, one at a time, after `runs`; the seconds each suggestion from `timed_from`
    on took."""
    runs = list(runs or [])
    times = []
    for index in range(len(runs), count):
        start = time.perf_counter()
        config = make.suggest(runs, index)
        if timed_from is not None and index >= timed_from:
            times.append(time.perf_counter() - start)
        runs.append(
            Run(
                f"{index:04d}",
                index,
                config,
                {k: {"value": v} for k, v in config.items()},
                "a",
                state=FINISHED,
                summary={"loss": loss(config)},
            )  # fmt: skip
        )
    return runs, times


def engines(source: Path) -> dict:
    return {
        "W&B bayes": lambda seed: Wandb("bayes", seed),
        "random": lambda seed: Wandb("random", seed),
        "Optuna TPE": lambda seed: Tpe(source, seed),
    }


def quality(makers: dict) -> None:
    print(f"median best loss over {len(SEEDS)} sweep seeds (lower is better; the optimum is 0)")
    print(f"{'engine':<12}" + "".join(f"{f'after {n}':>12}" for n in CHECKPOINTS))
    for name, make in makers.items():
        bests = {n: [] for n in CHECKPOINTS}
        for seed in SEEDS:
            runs, _ = sweep(make(seed), max(CHECKPOINTS))
            for n in CHECKPOINTS:
                bests[n].append(min(r.summary["loss"] for r in runs[:n]))
        medians = (statistics.median(bests[n]) for n in CHECKPOINTS)
        print(f"{name:<12}" + "".join(f"{m:>12.4f}" for m in medians))


def timing(makers: dict, sizes: tuple[int, ...], samples: int) -> None:
    print(f"\nseconds per suggestion, {samples} suggestions after the sweep holds N runs")
    print(f"{'engine':<12}" + "".join(f"{f'N={n} median':>16}{'p99':>9}" for n in sizes))
    for name, make in makers.items():
        cells = []
        for size in sizes:
            # bayes and random suggest from whatever runs there are: random ones fill the sweep
            # (asking bayes 1,000 times would take hours); TPE asks its own way there, as a
            # controller's study does
            start = [] if name == "Optuna TPE" else sweep(makers["random"](1), size)[0]
            _, times = sweep(make(0), size + samples, timed_from=size, runs=start)
            times.sort()
            p99 = times[min(len(times) - 1, math.ceil(0.99 * len(times)) - 1)]
            cells.append(f"{statistics.median(times):>16.4f}{p99:>9.4f}")
        print(f"{name:<12}" + "".join(cells), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="time at 100 runs only")
    parser.add_argument("--samples", type=int, default=20, help="suggestions timed per size")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "study.py"
        source.write_text(STUDY)
        makers = engines(source)
        quality(makers)
        timing(makers, (100,) if args.quick else (100, 1000), args.samples)


if __name__ == "__main__":
    main()
