"""A small CNN on MNIST, swept by W&B as a function: `wandb.agent(sweep_id, function=train)`.

Each call of `train()` is one run: `wandb.init()` loads the sweep's parameters into
`wandb.config`, over the defaults below.
"""

import os
import sys

import numpy as np
import torch
import wandb
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

DEFAULTS = {"learning_rate": 0.01, "epochs": 1, "batch_size": 64, "train_size": 512}


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Linear(16 * 7 * 7, 10)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def mnist(train_size):
    """(train, val) TensorDatasets of images (N, 1, 28, 28) in [0, 1] and labels."""
    if path := os.environ.get("SNAKESWEEP_DATA"):
        with np.load(path) as data:
            train = data["x_train"], data["y_train"]
            val = data["x_val"], data["y_val"]
    else:
        from torchvision.datasets import MNIST

        root = os.environ.get("MNIST_ROOT", "data")
        train_set = MNIST(root, train=True, download=True)
        val_set = MNIST(root, train=False, download=True)
        train = train_set.data.numpy(), train_set.targets.numpy()
        val = val_set.data[::10].numpy(), val_set.targets[::10].numpy()

    # Every n-th image, not the first n: an .npz made from a class-sorted source is sorted too.
    step = max(1, len(train[1]) // train_size)
    train = train[0][::step][:train_size], train[1][::step][:train_size]

    def tensors(images, labels):
        x = torch.from_numpy(images).float().div(255).unsqueeze(1)
        return TensorDataset(x, torch.from_numpy(labels).long())

    return tensors(*train), tensors(*val)


def train():
    with wandb.init(config=DEFAULTS) as run:
        config = wandb.config
        train_set, val_set = mnist(config.train_size)
        train_loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True)
        val_loader = DataLoader(val_set, batch_size=256)

        model = CNN()
        optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
        loss_fn = nn.CrossEntropyLoss()

        for epoch in range(config.epochs):
            model.train()
            total_loss, correct = 0.0, 0
            for images, labels in train_loader:
                optimizer.zero_grad()
                logits = model(images)
                loss = loss_fn(logits, labels)
                loss.backward()
                optimizer.step()
                total_loss += loss.item() * len(labels)
                correct += (logits.argmax(1) == labels).sum().item()

            model.eval()
            val_loss, val_correct = 0.0, 0
            with torch.no_grad():
                for images, labels in val_loader:
                    logits = model(images)
                    val_loss += loss_fn(logits, labels).item() * len(labels)
                    val_correct += (logits.argmax(1) == labels).sum().item()

            run.log(
                {
                    "epoch": epoch,
                    "loss": total_loss / len(train_set),
                    "accuracy": correct / len(train_set),
                    "val_loss": val_loss / len(val_set),
                    "val_accuracy": val_correct / len(val_set),
                }
            )


if __name__ == "__main__":
    # python train.py                      one run with the defaults
    # python train.py ENTITY/PROJECT/ID    an agent that calls train() for each run of the sweep
    if len(sys.argv) > 1:
        wandb.agent(sys.argv[1], function=train)
    else:
        train()
