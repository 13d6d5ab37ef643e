import pytest
import torch

import norse_core as snn


def _run(cell, reg, x):
    state, zs, vs, accumulated = None, [], [], []
    for x_t in x:
        z, state = cell(x_t, state)
        z_out, value = reg(z, state)
        assert z_out is z  # spikes pass through unchanged
        zs.append(z)
        vs.append(state.v)
        accumulated.append(value)
    return torch.stack(zs), torch.stack(vs), accumulated


def test_spike_count_over_steps_equals_total_spikes():
    torch.manual_seed(0)
    x = torch.rand(20, 3, 5) * 4
    zs, _, counts = _run(snn.LIFCell(), snn.RegularizationCell(), x)
    assert zs.sum() > 0
    cumulative = zs.flatten(1).sum(1).cumsum(0)
    torch.testing.assert_close(torch.stack(counts), cumulative)
    assert counts[-1].item() == zs.sum().item()


def test_voltage_accumulation():
    torch.manual_seed(1)
    x = torch.rand(10, 2, 4) * 2
    reg = snn.RegularizationCell(snn.voltage_accumulator)
    _, vs, sums = _run(snn.LIFCell(), reg, x)
    torch.testing.assert_close(sums[-1], vs.sum(0))
    assert sums[-1].shape == (2, 4)
    torch.testing.assert_close(reg.state, vs.sum(0))


def test_reset_and_initial_state():
    z = torch.ones(2, 3)
    reg = snn.RegularizationCell(state=torch.tensor(5.0))
    reg(z, None)
    _, value = reg(z, None)
    assert value.item() == 17.0
    reg.reset()
    assert reg.state.item() == 5.0
    assert reg(z, None)[1].item() == 11.0
    reg = snn.RegularizationCell()
    reg(z, None)
    reg.reset()
    assert reg.state is None and reg(z, None)[1].item() == 6.0


def test_functional_accumulators():
    z = torch.tensor([1.0, 0.0, 1.0])
    assert snn.spike_accumulator(z, None).item() == 2.0
    assert snn.spike_accumulator(z, None, torch.tensor(3.0)).item() == 5.0
    s = snn.LIFFeedForwardState(v=torch.tensor([0.1, 0.2, 0.3]), i=torch.zeros(3))
    torch.testing.assert_close(snn.voltage_accumulator(z, s, torch.ones(3)), torch.tensor([1.1, 1.2, 1.3]))
    out, value = snn.regularize_step(z, s, snn.voltage_accumulator)
    assert out is z
    torch.testing.assert_close(value, s.v)
    out, value = snn.regularize_step(z, s, state=torch.tensor(1.0))
    assert value.item() == 3.0
    with pytest.raises(TypeError, match="voltage_accumulator: s must be a neuron state with a tensor field v"):
        snn.voltage_accumulator(z, None)
    with pytest.raises(TypeError, match="accumulator must be a function"):
        snn.RegularizationCell(accumulator="spikes")


@pytest.mark.parametrize("accumulator", [snn.spike_accumulator, snn.voltage_accumulator])
def test_regularization_loss_gives_input_gradients(accumulator):
    torch.manual_seed(2)
    x = (torch.rand(15, 2, 3) * 3).requires_grad_()
    reg = snn.RegularizationCell(accumulator)
    zs, _, values = _run(snn.LIFCell(), reg, x)
    assert zs.sum() > 0
    loss = values[-1].sum()
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0
    if accumulator is snn.voltage_accumulator:
        # more input raises the voltage: the summed voltage grows with the first step's input
        assert (x.grad[0] > 0).all()
