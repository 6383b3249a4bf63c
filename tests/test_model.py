import pytest
import torch

from snakesweep.train.model import ConvNet, build_model
from snakesweep.train.run_config import resolve_run_config


@pytest.mark.parametrize(
    "overrides", [{}, {"kernels": [8, 4]}, {"dropout": 0.3}, {"fc_hidden": 64}, {"fc_hidden": 32, "dropout": 0.5}]
)
def test_output_shape(overrides):
    model = build_model(resolve_run_config(overrides)).eval()
    assert model(torch.rand(5, 1, 28, 28)).shape == (5, 10)


def test_outputs_are_logits_not_probabilities():
    torch.manual_seed(0)
    logits = ConvNet().eval()(torch.rand(8, 1, 28, 28))
    assert not torch.allclose(logits.sum(dim=1), torch.ones(8), atol=1e-3)
    assert (logits < 0).any()


def test_normalisation_is_inside_the_model():
    torch.manual_seed(0)
    model = ConvNet().eval()
    x = torch.full((1, 1, 28, 28), 0.1307)  # the MNIST mean normalises to exactly zero
    with torch.no_grad():
        first = model.features[0]
        zero_response = first(torch.zeros_like(x))
        assert torch.allclose(first((x - 0.1307) / 0.3081), zero_response)
        # and the model applies that normalisation itself: raw pixels in, same logits out
        manual = model.classifier(model.features((x - 0.1307) / 0.3081))
        assert torch.equal(model(x), manual)


def test_fc_hidden_adds_a_hidden_layer():
    linears = [m for m in ConvNet(fc_hidden=64).classifier if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(7 * 7 * 32, 64), (64, 10)]
