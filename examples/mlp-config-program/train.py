"""A two-hidden-layer MLP on MNIST whose knobs all come from `wandb.config`.

Run by `wandb agent` as `python train.py --layer1_size=128 ...`: the flags are ignored here,
because `wandb.init()` reads the same values from the file the agent names in
WANDB_SWEEP_PARAM_PATH, and they override the defaults below.
"""

import os

import numpy as np
import torch
import wandb
from torch import nn

defaults = dict(
    layer1_size=128,
    layer2_size=64,
    dropout=0.2,
    learning_rate=0.001,
    batch_size=64,
    epochs=2,
    train_size=512,
)


def load_mnist(limit):
    """Flattened float images and int64 labels: (x_train, y_train, x_val, y_val)."""
    path = os.environ.get("SNAKESWEEP_DATA")
    if path:
        data = dict(np.load(path))
    else:
        from torchvision.datasets import MNIST

        root = os.environ.get("MNIST_ROOT", "data")
        train, test = (
            MNIST(root, train=True, download=True),
            MNIST(root, train=False, download=True),
        )
        data = {
            "x_train": train.data.numpy(),
            "y_train": train.targets.numpy(),
            "x_val": test.data.numpy()[::10],
            "y_val": test.targets.numpy()[::10],
        }
    # A spread-out subset: the first n images of a class-sorted file would be all 0s and 1s.
    keep = np.linspace(0, len(data["y_train"]) - 1, min(limit, len(data["y_train"]))).astype(int)
    x_train = torch.tensor(data["x_train"][keep], dtype=torch.float32).flatten(1) / 255
    x_val = torch.tensor(data["x_val"], dtype=torch.float32).flatten(1) / 255
    return x_train, torch.tensor(data["y_train"][keep]), x_val, torch.tensor(data["y_val"])


def main():
    wandb.init(config=defaults)
    config = wandb.config
    x_train, y_train, x_val, y_val = load_mnist(config.train_size)

    model = nn.Sequential(
        nn.Linear(28 * 28, config.layer1_size),
        nn.ReLU(),
        nn.Dropout(config.dropout),
        nn.Linear(config.layer1_size, config.layer2_size),
        nn.ReLU(),
        nn.Dropout(config.dropout),
        nn.Linear(config.layer2_size, 10),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    loss_fn = nn.CrossEntropyLoss()

    for epoch in range(config.epochs):
        model.train()
        for batch in torch.randperm(len(x_train)).split(config.batch_size):
            optimizer.zero_grad()
            loss = loss_fn(model(x_train[batch]), y_train[batch])
            loss.backward()
            optimizer.step()

        model.eval()
        with torch.no_grad():
            logits = model(x_val)
        wandb.log(
            {
                "epoch": epoch,
                "loss": loss.item(),
                "val_loss": loss_fn(logits, y_val).item(),
                "val_accuracy": (logits.argmax(1) == y_val).float().mean().item(),
            }
        )

    wandb.finish()


if __name__ == "__main__":
    main()
