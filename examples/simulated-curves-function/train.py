"""Simulated training curves: a sweep to try out W&B sweeps without training anything.

Each run "trains" for `epochs` epochs; its losses follow a made-up law of the hyperparameters
(best near learning_rate 0.003, batch_size 32, dropout 0.2) plus noise from `random.random()`,
which is deliberately not seeded here: whoever runs the sweep decides how runs are seeded.
"""

import math
import random
import sys

import wandb

DEFAULTS = {"learning_rate": 0.01, "batch_size": 64, "dropout": 0.2, "epochs": 10}


def simulated_losses(config, epoch):
    """(loss, val_loss) after `epoch` epochs."""
    distance = (
        math.log10(config.learning_rate / 0.003) ** 2 + math.log2(config.batch_size / 32) ** 2 / 8
    )
    floor = 0.05 + 0.3 * distance  # where the run converges to
    speed = (
        0.6 * min(1.0, config.learning_rate / 0.003) ** 0.5
    )  # small learning rates converge slowly
    loss = floor + (2.3 - floor) * math.exp(-speed * epoch)
    # Without dropout the model overfits as it trains; too much of it underfits.
    gap = (
        0.02 * epoch * max(0.0, 0.2 - config.dropout) * 5
        + 0.3 * max(0.0, config.dropout - 0.2) ** 2
    )
    noise = 0.05 * (random.random() - 0.5)
    return loss * (1 + noise), loss + gap + noise * 0.5


def train():
    with wandb.init(config=DEFAULTS) as run:
        config = wandb.config
        for epoch in range(1, config.epochs + 1):
            loss, val_loss = simulated_losses(config, epoch)
            run.log({"epoch": epoch, "loss": loss, "val_loss": val_loss})


if __name__ == "__main__":
    # python train.py                      one run with the defaults
    # python train.py ENTITY/PROJECT/ID    an agent that calls train() for each run of the sweep
    if len(sys.argv) > 1:
        wandb.agent(sys.argv[1], function=train, count=12)
    else:
        train()
