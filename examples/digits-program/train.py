"""A small MLP on the 8x8 digits that ship with scikit-learn: a W&B program that needs no
download. Its config comes from `wandb.config` (the sweep's values replace these defaults), its
metrics go out through `wandb.log`."""

import torch
import torch.nn.functional as F
import wandb
from sklearn.datasets import load_digits
from torch import nn

run = wandb.init(config={"learning_rate": 0.01, "hidden": 32, "epochs": 30})
cfg = run.config
torch.manual_seed(0)
x, y = load_digits(return_X_y=True)
x, y = torch.tensor(x / 16, dtype=torch.float32), torch.tensor(y)
model = nn.Sequential(nn.Linear(64, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, 10))
optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
for epoch in range(cfg.epochs):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x[:1500]), y[:1500])
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        val_loss = F.cross_entropy(model(x[1500:]), y[1500:])
    run.log({"epoch": epoch, "loss": loss.item(), "val_loss": val_loss.item()})
