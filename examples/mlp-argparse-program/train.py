"""An MLP on MNIST configured by command-line flags, as `wandb agent` passes them:
`python train.py --learning_rate=0.01 --batch_size=64 --hidden=128 --epochs=4`.

Deterministic given its flags: the same flags (and data) log the same numbers, bit for bit.
"""

import argparse
import os
import random

import numpy as np
import torch
import torch.nn.functional as F
import wandb
from torch import nn


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--learning_rate", type=float, default=0.003)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--train_size", type=int, default=512, help="training images used (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    # One thread and deterministic kernels: the float sums happen in the same order every time.
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


def read_mnist(train_size):
    """Images as float vectors in [0, 1], labels as int64, for the train and validation splits."""
    if "SNAKESWEEP_DATA" in os.environ:
        with np.load(os.environ["SNAKESWEEP_DATA"]) as npz:
            arrays = [npz[key] for key in ("x_train", "y_train", "x_val", "y_val")]
    else:
        from torchvision.datasets import MNIST

        root = os.environ.get("MNIST_ROOT", "data")
        train, val = (MNIST(root, train=flag, download=True) for flag in (True, False))
        arrays = [train.data.numpy(), train.targets.numpy(), val.data.numpy(), val.targets.numpy()]
    x_train, y_train, x_val, y_val = (torch.from_numpy(a) for a in arrays)
    if train_size:  # every n-th image, not the first n, which can all be one class
        step = max(1, len(x_train) // train_size)
        x_train, y_train = x_train[::step][:train_size], y_train[::step][:train_size]
    return x_train.flatten(1) / 255.0, y_train.long(), x_val.flatten(1) / 255.0, y_val.long()


class MLP(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.fc1 = nn.Linear(28 * 28, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def main():
    args = parse_args()
    seed_everything(args.seed)
    run = wandb.init(config=vars(args))
    x_train, y_train, x_val, y_val = read_mnist(args.train_size)

    model = MLP(args.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    order = torch.Generator().manual_seed(args.seed)

    for epoch in range(1, args.epochs + 1):
        model.train()
        for idx in torch.randperm(len(x_train), generator=order).split(args.batch_size):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            loss.backward()
            optimizer.step()

        model.eval()
        with torch.no_grad():
            logits = model(x_val)
        # One val_loss per epoch: hyperband counts each logged value as one iteration.
        run.log(
            {
                "epoch": epoch,
                "train_loss": loss.item(),
                "val_loss": F.cross_entropy(logits, y_val).item(),
                "val_accuracy": (logits.argmax(1) == y_val).float().mean().item(),
            }
        )

    run.finish()


if __name__ == "__main__":
    main()
