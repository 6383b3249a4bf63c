"""The W&B PyTorch intro ("Simple PyTorch Integration"): make, train, test, export to ONNX.

Swept as a program: `wandb agent` runs `python train.py --learning_rate=... --batch_size=...`;
`wandb.init()` reads the run's parameters over the defaults in `config`, so the flags themselves
are not parsed. The defaults are smaller than the intro's (its 12,000 digits, 5 epochs) so that
a run takes seconds on a laptop CPU.
"""

import os

import numpy as np
import torch
import torch.nn as nn
import wandb
from torch.utils.data import DataLoader, Subset, TensorDataset

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

config = dict(
    epochs=2,
    classes=10,
    kernels=[16, 32],
    batch_size=64,
    learning_rate=0.005,
    train_size=512,
    test_size=256,
    dataset="MNIST",
    architecture="CNN",
)


def model_pipeline(hyperparameters):
    # tell wandb to get started
    with wandb.init(project="pytorch-demo", config=hyperparameters):
        # access all HPs through wandb.config, so logging matches execution!
        config = wandb.config

        # make the model, data, and optimization problem
        model, train_loader, test_loader, criterion, optimizer = make(config)
        print(model)

        # and use them to train the model
        train(model, train_loader, criterion, optimizer, config)

        # and test its final performance
        test(model, test_loader)

    return model


def make(config):
    # Make the data
    train, test = (
        get_data(train=True, size=config.train_size),
        get_data(train=False, size=config.test_size),
    )
    train_loader = make_loader(train, batch_size=config.batch_size)
    test_loader = make_loader(test, batch_size=config.batch_size)

    # Make the model
    model = ConvNet(config.kernels, config.classes).to(device)

    # Make the loss and optimizer
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)

    return model, train_loader, test_loader, criterion, optimizer


def get_data(train=True, size=512):
    """About `size` images of a split, every n-th one, as (image (1, 28, 28) in [0, 1], label)."""
    if "SNAKESWEEP_DATA" in os.environ:  # an .npz of uint8 images x_<split> and labels y_<split>
        split = "train" if train else "test"
        with np.load(os.environ["SNAKESWEEP_DATA"]) as npz:
            images, labels = npz[f"x_{split}"], npz[f"y_{split}"]
        full_dataset = TensorDataset(
            torch.tensor(images).unsqueeze(1).float() / 255, torch.tensor(labels)
        )
    else:
        import torchvision.transforms as transforms
        from torchvision.datasets import MNIST

        full_dataset = MNIST(
            root=os.environ.get("MNIST_ROOT", "data"),
            train=train,
            transform=transforms.ToTensor(),
            download=True,
        )
    # like the intro's `slice`: every n-th image (an .npz can be sorted by class)
    slice = max(1, len(full_dataset) // size)
    return Subset(full_dataset, indices=range(0, len(full_dataset), slice)[:size])


def make_loader(dataset, batch_size):
    return DataLoader(
        dataset=dataset, batch_size=batch_size, shuffle=True, pin_memory=device.type == "cuda"
    )


# Conventional and convolutional neural network
class ConvNet(nn.Module):
    def __init__(self, kernels, classes=10):
        super().__init__()

        self.layer1 = nn.Sequential(
            nn.Conv2d(1, kernels[0], kernel_size=5, stride=1, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.layer2 = nn.Sequential(
            nn.Conv2d(kernels[0], kernels[1], kernel_size=5, stride=1, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.fc = nn.Linear(7 * 7 * kernels[-1], classes)

    def forward(self, x):
        out = self.layer1(x)
        out = self.layer2(out)
        out = out.reshape(out.size(0), -1)
        out = self.fc(out)
        return out


def train(model, loader, criterion, optimizer, config):
    # Tell wandb to watch what the model gets up to: gradients, weights, and more!
    wandb.watch(model, criterion, log="all", log_freq=10)

    # Run training and track with wandb
    example_ct = 0  # number of examples seen
    batch_ct = 0
    for epoch in range(config.epochs):
        for images, labels in loader:
            loss = train_batch(images, labels, model, optimizer, criterion)
            example_ct += len(images)
            batch_ct += 1

            # Report metrics every 5th batch
            if (batch_ct + 1) % 5 == 0:
                train_log(loss, example_ct, epoch)


def train_batch(images, labels, model, optimizer, criterion):
    images, labels = images.to(device), labels.to(device)

    # Forward pass ➡
    outputs = model(images)
    loss = criterion(outputs, labels)

    # Backward pass ⬅
    optimizer.zero_grad()
    loss.backward()

    # Step with optimizer
    optimizer.step()

    return loss


def train_log(loss, example_ct, epoch):
    # Where the magic happens
    wandb.log({"epoch": epoch, "loss": loss}, step=example_ct)
    print(f"Loss after {str(example_ct).zfill(5)} examples: {loss:.3f}")


def test(model, test_loader):
    model.eval()

    # Run the model on some test examples
    with torch.no_grad():
        correct, total = 0, 0
        for images, labels in test_loader:
            images, labels = images.to(device), labels.to(device)
            outputs = model(images)
            _, predicted = torch.max(outputs.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()

        print(f"Accuracy of the model on the {total} test images: {correct / total:%}")

        wandb.log({"test_accuracy": correct / total})

    # Save the model in the exchangeable ONNX format. PyTorch 2.9+ would otherwise write the
    # weights to a separate model.onnx.data, which wandb.save("model.onnx") would leave behind.
    torch.onnx.export(
        model,
        (images,),
        "model.onnx",
        external_data=False,
        input_names=["images"],
        output_names=["logits"],
        dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
    )
    wandb.save("model.onnx")


if __name__ == "__main__":
    model = model_pipeline(config)
