"""Reproducible hyperparameter sweeps: train one run, see where a sweep stands, prove it, or run
its failed runs again.

`snakesweep train` runs one config end to end (see snakesweep.convnet.run) and exits 0 when the
run finished or was stopped, 1 when it failed (with one line saying why) or when the input was
wrong. W&B writes its `wandb/` folder inside --out unless --wandb-dir says otherwise.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from snakesweep import paths
from snakesweep.convnet.wandb_run import MODES
from snakesweep.errors import UserError


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _train(args: argparse.Namespace) -> int:
    import yaml

    from snakesweep.convnet.run import execute_run
    from snakesweep.convnet.trainer import Setup
    from snakesweep.convnet.wandb_run import Tracking
    from snakesweep.data.dataset import DataFiles

    config_path = Path(args.config)
    try:
        run_config = yaml.safe_load(config_path.read_text()) or {}
    except OSError as err:
        raise UserError(f"{config_path}: cannot read the run config ({err.strerror})") from err
    except yaml.YAMLError as err:
        raise UserError(f"{config_path}: not valid YAML ({err})") from err
    from snakesweep.convnet.run_config import resolve_run_config

    resolve_run_config(run_config, source=str(config_path))  # name the file in any error
    data = DataFiles(args.data, args.manifest)
    setup = Setup(args.seed, args.device, args.threads, progress=sys.stderr.isatty())
    tracking = Tracking(args.wandb_mode, args.project, args.group, tuple(args.tag), args.wandb_dir)
    metrics = execute_run(run_config, data, args.out, setup, tracking)
    if metrics["state"] == "failed":
        logging.getLogger("snakesweep").error(
            "run failed: %s (see %s)", metrics["reason"], Path(args.out) / paths.RUN_METRICS
        )
        return 1
    return 0


def _status(args: argparse.Namespace) -> int:
    from snakesweep.inspect.status import show

    return show(args.results, args.watch)


def _verify(args: argparse.Namespace) -> int:
    from snakesweep.inspect.verify import verify

    print(verify(args.results, retrain_best=args.retrain))
    return 0


def _init(args: argparse.Namespace) -> int:
    from snakesweep.project import init_project

    for name, what in init_project(args.folder):
        print(f"  {what:<8} {name}")
    print("next: snakemake --cores 4   (on a SLURM cluster: snakemake --profile slurm)")
    return 0


def _retry(args: argparse.Namespace) -> int:
    from snakesweep.sweep.retry import retry_runs

    chosen = retry_runs(args.results, args.run_ids or None)
    if not chosen:
        print("no failed or crashed run to run again")
        return 0
    print(
        f"{len(chosen)} run(s) will run again, with the same index, config and seed: "
        f"{', '.join(chosen)}\n"
        "run snakemake again (with the same options) to run them; finished runs are not redone"
    )
    return 0


def _positive_seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="snakesweep", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train(commands)

    status = commands.add_parser(
        "status", help="where the sweep stands: runs by state, running runs, best run, time left"
    )
    _results_option(status)
    status.add_argument(
        "--watch",
        type=_positive_seconds,
        metavar="SECONDS",
        help="refresh every SECONDS until Ctrl-C",
    )
    status.set_defaults(handler=_status)

    verify = commands.add_parser(
        "verify", help="prove a finished sweep follows from its store (replays every decision)"
    )
    _results_option(verify)
    verify.add_argument(
        "--retrain",
        action="store_true",
        help="also retrain the best run and compare its ONNX bytes",
    )
    verify.set_defaults(handler=_verify)

    init = commands.add_parser(
        "init", help="write what a sweep of your own code needs into a folder (overwrites nothing)"
    )
    init.add_argument(
        "folder", nargs="?", default=".", help="the project folder (default: the current one)"
    )
    init.set_defaults(handler=_init)

    retry = commands.add_parser(
        "retry", help="run the sweep's failed runs again (after fixing your code); then snakemake"
    )
    retry.add_argument(
        "run_ids", nargs="*", metavar="RUN_ID", help="only these runs (default: every failed run)"
    )
    _results_option(retry)
    retry.set_defaults(handler=_retry)
    return parser


def _results_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--results", default=paths.RESULTS, help="the workflow's results folder (default results)"
    )


def _add_train(commands) -> None:
    train = commands.add_parser(
        "train", help="train one run config, export and verify its ONNX model"
    )
    train.add_argument("--config", required=True, help="YAML file with the run's hyperparameters")
    train.add_argument(
        "--data", required=True, help="the data stage's .npz (results/data/mnist.npz)"
    )
    train.add_argument(
        "--manifest", help="the data stage's manifest.json, to check the data's sha256"
    )
    train.add_argument(
        "--out", required=True, help="folder for config.yaml, model.onnx, metrics.json"
    )
    train.add_argument("--seed", type=int, default=0, help="the run's seed (default 0)")
    train.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    train.add_argument(
        "--threads", type=int, help="torch CPU threads; results depend on it (default: all CPUs)"
    )
    train.add_argument("--wandb-mode", default="offline", choices=MODES)
    train.add_argument("--wandb-dir", help="where wandb writes its wandb/ folder (default: --out)")
    train.add_argument("--project", default="snakesweep", help="W&B project (default snakesweep)")
    train.add_argument("--group", help="W&B group, e.g. the sweep's name")
    train.add_argument("--tag", action="append", default=[], help="W&B tag (repeatable)")
    train.set_defaults(handler=_train)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train":
        args.threads = _cpu_count() if args.threads is None else args.threads
        if args.threads < 1:
            parser.error(f"--threads must be >= 1, got {args.threads}")
    from snakesweep.logs import job_logging

    with job_logging():
        return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
