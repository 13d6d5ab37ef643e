import pytest
import torch

import norse_core as snn


@pytest.mark.parametrize("kwargs", [dict(), dict(stride=2, padding=1, bias=False), dict(dilation=2, groups=2)])
def test_lconv2d_equals_per_step_conv2d(kwargs):
    torch.manual_seed(0)
    lconv = snn.LConv2d(4, 6, 3, **kwargs)
    conv = torch.nn.Conv2d(4, 6, 3, **kwargs)
    conv.load_state_dict(lconv.state_dict())
    assert isinstance(lconv, torch.nn.Conv2d)
    x = torch.randn(5, 2, 4, 9, 8)
    out = lconv(x)
    ref = torch.stack([conv(x_t) for x_t in x])
    assert out.shape == ref.shape == (5, 2, 6, *ref.shape[-2:])
    torch.testing.assert_close(out, ref)


def test_lconv2d_gradients_match_loop():
    # float64: the folded and the per-step convolutions sum the weight gradient in different
    # orders (and the backend may pick other algorithms), so float32 differs in the 6th digit
    torch.manual_seed(1)
    lconv = snn.LConv2d(2, 3, (3, 2), padding=1).double()
    conv = torch.nn.Conv2d(2, 3, (3, 2), padding=1).double()
    conv.load_state_dict(lconv.state_dict())
    x = torch.randn(4, 3, 2, 6, 6, dtype=torch.float64)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    target = torch.randn(4, 3, 3, 6, 7, dtype=torch.float64)
    ((lconv(x1) - target) ** 2).sum().backward()
    ((torch.stack([conv(x_t) for x_t in x2]) - target) ** 2).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad)
    torch.testing.assert_close(lconv.weight.grad, conv.weight.grad)
    torch.testing.assert_close(lconv.bias.grad, conv.bias.grad)
    assert lconv.weight.grad.abs().sum() > 0


def test_lconv2d_rejects_bad_inputs():
    lconv = snn.LConv2d(2, 3, 3)
    with pytest.raises(ValueError, match=r"LConv2d: input must be 5-D \(time, batch, channels, height, width\), "
                       r"got shape \(2, 2, 5, 5\)"):
        lconv(torch.zeros(2, 2, 5, 5))
    with pytest.raises(ValueError, match=r"has 4 channels \(dim 2\) but the layer expects in_channels=2"):
        lconv(torch.zeros(3, 1, 4, 5, 5))


def test_lconv2d_in_sequential_state_with_lif():
    torch.manual_seed(2)
    net = snn.SequentialState(snn.LConv2d(1, 2, 3), snn.LIF())
    out, state = net(torch.rand(6, 2, 1, 5, 5) * 10)
    assert out.shape == (6, 2, 2, 3, 3) and state[0] is None
    assert state[1].v.shape == (2, 2, 3, 3)
