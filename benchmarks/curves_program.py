"""examples/simulated-curves-function as a program, for benchmarks/user_code_overhead.py: the
same made-up curves, its config from `wandb.config` (the agent's parameter file), so that the
program and the function do the same work."""

import importlib.util
from pathlib import Path

EXAMPLE = (
    Path(__file__).resolve().parents[1] / "examples" / "simulated-curves-function" / "train.py"
)

if __name__ == "__main__":
    spec = importlib.util.spec_from_file_location("curves", EXAMPLE)
    curves = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(curves)
    curves.train()
