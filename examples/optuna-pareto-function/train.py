"""Two objectives at once: validation loss against the model's size (its parameter count).

Nothing is trained: a wider and deeper MLP has a lower (made-up) validation loss and more
parameters, so no single run is best and the sweep's answer is a Pareto front.
"""

import math

import wandb

DEFAULTS = {"width": 32, "layers": 2, "learning_rate": 0.01, "epochs": 4}


def train():
    with wandb.init(config=DEFAULTS) as run:
        config = wandb.config
        size = 64 * config.width + (config.layers - 1) * config.width**2 + 10 * config.width
        floor = 3.0 / math.log2(size) + 0.2 * math.log10(config.learning_rate / 0.003) ** 2
        for epoch in range(1, config.epochs + 1):
            run.log({"epoch": epoch, "val_loss": floor + 1.0 / epoch, "model_size": size})


if __name__ == "__main__":
    train()
