import pytest
import torch

from snakesweep.convnet.model import ConvNet, build_model
from snakesweep.convnet.run_config import resolve_run_config


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"kernels": [8, 4]},
        {"dropout": 0.3},
        {"fc_hidden": 64},
        {"fc_hidden": 32, "dropout": 0.5},
    ],
)
def test_output_shape(overrides):
    model = build_model(resolve_run_config(overrides)).eval()
    assert model(torch.rand(5, 1, 28, 28)).shape == (5, 10)


def test_outputs_are_logits_not_probabilities():
    """No softmax at the end: the output is the last linear layer's, so scaling that layer
    scales the output, which no probability (or log-probability) could follow."""
    torch.manual_seed(0)
    model = ConvNet().eval()
    assert not any(isinstance(m, (torch.nn.Softmax, torch.nn.LogSoftmax)) for m in model.modules())
    x = torch.rand(8, 1, 28, 28)
    with torch.no_grad():
        logits = model(x)
        last = model.classifier[-1]
        last.weight.mul_(10)
        last.bias.mul_(10)
        assert torch.allclose(model(x), 10 * logits, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(logits.sum(dim=1), torch.ones(8), atol=1e-3)


def test_normalisation_is_inside_the_model():
    """Raw [0, 1] pixels in: the model subtracts the MNIST mean and divides by its std itself
    (the constants are spelled out here, so a wrong or missing normalisation fails)."""
    torch.manual_seed(0)
    model = ConvNet().eval()
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        normalised_by_hand = model.classifier(model.features((x - 0.1307) / 0.3081))
        assert torch.allclose(model(x), normalised_by_hand, rtol=0, atol=1e-6)
        assert not torch.allclose(model(x), model.classifier(model.features(x)), atol=1e-3)


def test_fc_hidden_adds_a_hidden_layer():
    linears = [m for m in ConvNet(fc_hidden=64).classifier if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(7 * 7 * 32, 64), (64, 10)]
