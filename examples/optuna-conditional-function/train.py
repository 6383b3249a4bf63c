"""Simulated training curves over a conditional space: `momentum` exists only for sgd.

Nothing is trained: each run's validation loss follows a made-up law of its config (adam is
best near learning_rate 0.003, sgd near 0.03 with momentum near 0.9), so a sweep takes seconds.
"""

import math

import wandb

DEFAULTS = {"optimizer": "adam", "learning_rate": 0.01, "epochs": 9}


def train():
    with wandb.init(config=DEFAULTS) as run:
        config = wandb.config
        best = 0.003 if config.optimizer == "adam" else 0.03
        floor = 0.05 + 0.3 * math.log10(config.learning_rate / best) ** 2
        if config.optimizer == "sgd":
            floor += 0.5 * (0.9 - config.get("momentum", 0.0)) ** 2
        for epoch in range(1, config.epochs + 1):
            run.log({"epoch": epoch, "val_loss": floor + 2.0 / epoch})


if __name__ == "__main__":
    train()
