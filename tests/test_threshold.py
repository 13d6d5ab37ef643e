import math

import pytest
import torch

import norse_core as snn
from norse_core.functional.threshold import register_surrogate, surrogate_methods, threshold

ALPHA = 7.0
# The surrogate derivative of each built-in method, written from the spec's table.
FORMULAS = {
    "heaviside": lambda x, a: torch.zeros_like(x),
    "super": lambda x, a: 1 / (a * x.abs() + 1) ** 2,
    "superspike": lambda x, a: 1 / (a * x.abs() + 1) ** 2,
    "triangle": lambda x, a: a * torch.relu(1 - x.abs()),
    "tanh": lambda x, a: 1 - torch.tanh(a * x) ** 2,
    "circ": lambda x, a: a**3 / (a**2 + x**2) ** 1.5,
    "heavi_erfc": lambda x, a: 2 * torch.exp(-((a * x) ** 2)) / math.sqrt(math.pi),
    "logistic": lambda x, a: 1 - torch.tanh(a * x) ** 2,
    "atan": lambda x, a: a / 2 / (1 + (math.pi / 2 * a * x) ** 2),
    "sigmoid": lambda x, a: a * torch.sigmoid(a * x) * (1 - torch.sigmoid(a * x)),
}


def test_every_spec_method_is_registered():
    assert set(FORMULAS) <= set(surrogate_methods())


@pytest.mark.parametrize("method", sorted(set(FORMULAS) - {"logistic"}))
def test_forward_is_strict_heaviside(method):
    x = torch.tensor([-1.0, -1e-6, 0.0, 1e-6, 2.0])
    assert torch.equal(threshold(x, method, ALPHA), torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0]))


@pytest.mark.parametrize("method", sorted(FORMULAS))
def test_gradient_matches_formula_float64(method):
    x = torch.linspace(-2, 2, 401, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(401, dtype=torch.float64)
    (grad,) = torch.autograd.grad(threshold(x, method, ALPHA), x, upstream)
    expected = upstream * FORMULAS[method](x.detach(), ALPHA)
    assert grad.dtype == torch.float64
    torch.testing.assert_close(grad, expected, rtol=1e-12, atol=1e-12)
    if method != "heaviside":
        assert grad.abs().sum() > 0


def test_superspike_alpha_is_used():  # deliberate change: Norse 1.1.0 ignored alpha
    x = torch.tensor([0.1], requires_grad=True)
    threshold(x, "super", 100.0).backward()
    assert x.grad.item() == pytest.approx(1 / 121)


def test_default_method_is_super_with_alpha_100():
    x = torch.tensor([0.01], requires_grad=True)
    threshold(x).backward()
    assert x.grad.item() == pytest.approx(1 / 4)


def test_logistic_forward_is_bernoulli():
    torch.manual_seed(0)
    x = torch.full((20000,), 0.005)
    rate = threshold(x, "logistic", 100.0).mean().item()
    assert rate == pytest.approx(0.5 + 0.5 * math.tanh(0.5), abs=0.02)


def test_unknown_method_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown threshold method 'nope'.*atan.*super.*triangle"):
        threshold(torch.zeros(1), "nope", 1.0)


def test_register_custom_surrogate():
    register_surrogate("test_box", lambda x, a: (x.abs() < 1 / a).to(x.dtype) * a / 2, overwrite=True)
    x = torch.tensor([0.0, 0.05, 0.5], requires_grad=True)
    threshold(x, "test_box", 10.0).sum().backward()
    assert x.grad.tolist() == [5.0, 5.0, 0.0]
    cell = snn.LIFCell(snn.LIFParameters(method="test_box", alpha=10.0))
    assert cell(torch.ones(2))[0].shape == (2,)
    with pytest.raises(ValueError, match="already registered"):
        register_surrogate("test_box", lambda x, a: x)


def test_heaviside():
    assert snn.heaviside(torch.tensor([-1.0, 0.0, 3.0])).tolist() == [0.0, 0.0, 1.0]
