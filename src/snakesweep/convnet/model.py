"""The ConvNet of the W&B PyTorch intro, with input normalisation folded into the model.

Normalising inside `forward` means every consumer of the exported ONNX (a browser, a C++
service) feeds raw [0, 1] pixels and cannot forget or mistype the MNIST mean and std. The model
returns logits, not probabilities: `CrossEntropyLoss` applies log-softmax itself, and a softmax
here would both cost accuracy (double softmax) and hide the margins a caller may want.
"""

from __future__ import annotations

from torch import Tensor, nn

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
NUM_CLASSES = 10


class ConvNet(nn.Module):
    def __init__(
        self,
        kernels: tuple[int, int] | list[int] = (16, 32),
        dropout: float = 0.0,
        fc_hidden: int = 0,
    ):
        super().__init__()
        k1, k2 = kernels
        self.features = nn.Sequential(
            nn.Conv2d(1, k1, kernel_size=5, stride=1, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(k1, k2, kernel_size=5, stride=1, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        flat = 7 * 7 * k2
        head: list[nn.Module] = [nn.Flatten()]
        if fc_hidden:
            head += [nn.Linear(flat, fc_hidden), nn.ReLU()]
            if dropout:
                head.append(nn.Dropout(dropout))
            head.append(nn.Linear(fc_hidden, NUM_CLASSES))
        else:
            if dropout:
                head.append(nn.Dropout(dropout))
            head.append(nn.Linear(flat, NUM_CLASSES))
        self.classifier = nn.Sequential(*head)

    def forward(self, images: Tensor) -> Tensor:
        """Logits for float images (N, 1, 28, 28) with pixels in [0, 1]."""
        x = (images - MNIST_MEAN) / MNIST_STD
        return self.classifier(self.features(x))


# The ONNX exporter writes the model class's module path into every node's metadata, so a
# model's bytes would change whenever the code moved. The ConvNet keeps the module name its
# first releases published under, wherever its code lives: equal weights, equal bytes, across
# versions (`snakesweep verify --retrain` compares them).
ConvNet.__module__ = "snakesweep.train.model"


def build_model(config: dict) -> ConvNet:
    """The model a validated run config describes."""
    return ConvNet(
        kernels=config["kernels"], dropout=config["dropout"], fc_hidden=config["fc_hidden"]
    )
