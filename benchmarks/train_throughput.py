"""Training throughput: the W&B PyTorch intro's input pipeline vs. the project's trainer.

Both ways train the same ConvNet (snakesweep.convnet.model) with Adam, batch 128, the same thread
count, deterministic algorithms on, for the same number of epochs (so the same number of steps)
over the bundled 3,600-image training split:

  (a) the intro way: torchvision.datasets.MNIST with ToTensor + Normalize, read from IDX files
      written into a temporary MNIST/raw folder (no network here; torchvision only checks md5s
      when it downloads), through DataLoader(shuffle=True, num_workers=2, pin_memory=True);
  (b) snakesweep.convnet.trainer.train: the whole split resident as one float tensor, batches by
      index with a seeded permutation (channels_last on, and once more with it off).

Numbers move with whatever else runs on the machine (on 2 cores the DataLoader's two workers
fight training for the same cores), so the ways are measured in interleaved repeats and the
median and range are printed, and the ratio is taken per repeat.

Then it times several 1-epoch runs through execute_run (offline W&B) in this process and prints
each run's overhead, total_seconds - train_seconds - eval_seconds, split into W&B init and
finish, ONNX export and verification: for the first run (cold imports) and, as median and
range, for the later ones (what a sweep agent running several runs per process pays).

    python benchmarks/train_throughput.py [--device cpu|cuda] [--threads 2] [--repeat 5] [--runs 6]
                                          [--run-threads 1] [--skip-throughput] [--skip-overhead]
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import statistics
import struct
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from snakesweep.convnet.model import ConvNet
from snakesweep.convnet.run_config import defaults, load_schema
from snakesweep.convnet.trainer import Setup, train
from snakesweep.seeding import seed_everything

BATCH = 128


def bundled_dataset(path: Path) -> Path:
    """The bundled split exactly as the data stage writes it (3600 / 400 / 1000)."""
    from snakesweep.data.arrays import save_arrays
    from snakesweep.data.bundled import load_bundled
    from snakesweep.data.subsample import make_splits

    raw, _ = load_bundled()
    save_arrays(path, make_splits(raw, seed=0, fraction=0.2, val_fraction=0.1, test_fraction=0.2))
    return path


def write_idx(raw_folder: Path, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    """IDX files as torchvision leaves them after a download: the .gz and the extracted file."""
    raw_folder.mkdir(parents=True, exist_ok=True)
    blobs = {
        f"{prefix}-images-idx3-ubyte": struct.pack(">IIII", 0x0803, len(images), 28, 28)
        + images.astype(np.uint8).tobytes(),
        f"{prefix}-labels-idx1-ubyte": struct.pack(">II", 0x0801, len(labels))
        + labels.astype(np.uint8).tobytes(),
    }
    for name, blob in blobs.items():
        (raw_folder / name).write_bytes(blob)
        (raw_folder / f"{name}.gz").write_bytes(gzip.compress(blob, mtime=0))


def intro_way(dataset: dict, epochs: int, device: torch.device, threads: int, root: Path) -> float:
    """Samples/s of the W&B intro's pipeline (torchvision MNIST + DataLoader)."""
    from torchvision import datasets, transforms

    write_idx(root / "MNIST" / "raw", "train", dataset["x_train"], dataset["y_train"])
    write_idx(root / "MNIST" / "raw", "t10k", dataset["x_test"], dataset["y_test"])
    transform = transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))]
    )
    train_set = datasets.MNIST(root=str(root), train=True, download=False, transform=transform)
    assert len(train_set) == len(dataset["x_train"])
    loader = torch.utils.data.DataLoader(
        train_set, batch_size=BATCH, shuffle=True, num_workers=2, pin_memory=True
    )

    seed_everything(0, threads)
    model = ConvNet().to(device)  # same model; its built-in normalisation costs the same both ways
    optimizer = torch.optim.Adam(model.parameters(), lr=defaults(load_schema())["learning_rate"])
    model.train()
    samples = 0
    started = time.perf_counter()
    for _ in range(epochs):
        for images, labels in loader:
            images, labels = (
                images.to(device, non_blocking=True),
                labels.to(device, non_blocking=True),
            )
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            samples += len(labels)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return samples / (time.perf_counter() - started)


def trainer_way(
    dataset: dict, epochs: int, device: torch.device, threads: int, channels_last: bool
) -> float:
    setup = Setup(seed=0, device=device.type, threads=threads, channels_last=channels_last)
    result = train({"epochs": epochs}, dataset, setup)
    return result.timing["samples_per_second"]


def overhead(
    data_path: Path, out: Path, device: torch.device, threads: int, runs: int
) -> list[dict]:
    """Per-run overhead (total - train - eval) of `runs` runs in this process, the first cold."""
    from snakesweep.convnet.run import OVERHEAD_KEYS, execute_run
    from snakesweep.convnet.wandb_run import Tracking
    from snakesweep.data.dataset import DataFiles

    rows = []
    tracking = Tracking(mode="offline", project="snakesweep")  # wandb/ in each run's folder
    for index in range(runs):
        setup = Setup(seed=index, device=device.type, threads=threads)
        metrics = execute_run(
            {"epochs": 1}, DataFiles(str(data_path)), out / str(index), setup, tracking
        )
        t = metrics["timing"]
        rows.append(
            {
                "overhead": t["total_seconds"] - t["train_seconds"] - t["eval_seconds"],
                **{key: t.get(key, 0.0) for key in OVERHEAD_KEYS},
            }
        )
    return rows


def spread(values: list[float], unit: str = "", digits: int = 0) -> str:
    """Median and range of repeated measurements: one number alone hides the noise."""
    fmt = f"{{:.{digits}f}}{unit}"
    median, low, high = (fmt.format(f(values)) for f in (statistics.median, min, max))
    return f"median {median} (min {low}, max {high}, n={len(values)})"


def throughput(dataset: dict, args, device: torch.device, tmp: Path) -> dict:
    steps = args.epochs * math.ceil(len(dataset["x_train"]) / BATCH)
    print(
        f"torch {torch.__version__}, device {device}, threads {args.threads}, batch {BATCH}, "
        f"{args.epochs} epochs = {steps} steps each way, os.cpu_count()={os.cpu_count()}"
    )
    trainer_way(dataset, 1, device, args.threads, True)  # warm up kernels once for everyone
    rates: dict[str, list[float]] = {"a": [], "b": [], "b_nchw": []}
    for _ in range(args.repeat):  # interleaved, so background load hits every way alike
        rates["a"].append(intro_way(dataset, args.epochs, device, args.threads, tmp / "tv"))
        rates["b"].append(trainer_way(dataset, args.epochs, device, args.threads, True))
        rates["b_nchw"].append(trainer_way(dataset, args.epochs, device, args.threads, False))
    print(
        "(a) W&B intro (torchvision MNIST + DataLoader, 2 workers): "
        f"{spread(rates['a'], ' samples/s')}"
    )
    print(
        "(b) snakesweep trainer (resident tensor, channels_last):     "
        f"{spread(rates['b'], ' samples/s')}"
    )
    print(
        "    snakesweep trainer without channels_last:                "
        f"{spread(rates['b_nchw'], ' samples/s')}"
    )
    ratios = [b / a for a, b in zip(rates["a"], rates["b"], strict=True)]
    print(f"ratio b/a, per interleaved repeat: {spread(ratios, 'x', 2)}")
    return {
        "device": str(device),
        "threads": args.threads,
        "samples_per_second": {way: statistics.median(values) for way, values in rates.items()},
        "repeats": rates,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--epochs", type=int, default=2, help="epochs of 3,600 images each way (default 2)"
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="interleaved repeats; the median is reported"
    )
    parser.add_argument(
        "--runs", type=int, default=6, help="runs for the overhead, the first cold (default 6)"
    )
    parser.add_argument(
        "--run-threads",
        type=int,
        default=1,
        help="threads per run for the overhead (default 1, as the default pipeline's agents)",
    )
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument(
        "--json", type=Path, help="also write the measured figures to this file, as JSON"
    )
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA GPU is available to torch here")
    device = torch.device(args.device)
    warnings.filterwarnings("ignore", message=".*pin_memory.*")  # the intro pins even without a GPU

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        from snakesweep.data.dataset import load_dataset

        data_path = bundled_dataset(tmp / "mnist.npz")
        figures: dict = {}
        if not args.skip_throughput:
            figures["throughput"] = throughput(load_dataset(data_path), args, device, tmp)
        if not args.skip_overhead:
            rows = overhead(data_path, tmp / "runs", device, args.run_threads, args.runs)
            figures["overhead"] = rows
            print(
                "per-run overhead, total - train - eval "
                f"(1-epoch runs, offline W&B, {args.run_threads} threads):"
            )
            print(
                f"  first run in the process (cold imports): {rows[0]['overhead']:.3f} s "
                + ", ".join(
                    f"{k.removesuffix('_seconds')} {rows[0][k]:.3f}"
                    for k in rows[0]
                    if k != "overhead"
                )
            )
            warm = rows[1:]
            if warm:
                print(
                    f"  later runs (a warm agent): {spread([r['overhead'] for r in warm], ' s', 3)}"
                )
                for key in (k for k in warm[0] if k != "overhead"):
                    print(
                        f"    {key.removesuffix('_seconds'):12s} "
                        f"{spread([r[key] for r in warm], ' s', 3)}"
                    )
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
