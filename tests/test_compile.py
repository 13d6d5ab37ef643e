"""torch.compile of a cell and of a SequentialState network gives the eager result."""

import pytest
import torch

import norse_core as snn


def _network():
    torch.manual_seed(0)
    return snn.SequentialState(torch.nn.Linear(6, 8), snn.LIFCell(), torch.nn.Linear(8, 3), snn.LICell())


def _check(backend):
    torch._dynamo.reset()
    cell = snn.LIFCell()
    x = torch.rand(4, 6) * 3
    state = None
    compiled_cell = torch.compile(cell, backend=backend, fullgraph=True)
    eager_state = compiled_state = None
    for _ in range(5):
        z_e, eager_state = cell(x, eager_state)
        z_c, compiled_state = compiled_cell(x, compiled_state)
        torch.testing.assert_close(z_c, z_e)
        torch.testing.assert_close(compiled_state.v, eager_state.v)
    assert isinstance(compiled_state, snn.LIFFeedForwardState)
    assert eager_state.v.abs().sum() > 0

    net = _network()
    compiled_net = torch.compile(net, backend=backend)
    s_e = s_c = None
    xin = torch.rand(5, 6, requires_grad=True)
    for _ in range(3):
        out_e, s_e = net(xin, s_e)
        out_c, s_c = compiled_net(xin, s_c)
        torch.testing.assert_close(out_c, out_e)
    (g_e,) = torch.autograd.grad(out_e.sum(), xin, retain_graph=True)
    (g_c,) = torch.autograd.grad(out_c.sum(), xin)
    torch.testing.assert_close(g_c, g_e)
    del state


def test_compile_aot_eager():
    _check("aot_eager")


@pytest.mark.slow
def test_compile_inductor():
    _check("inductor")


def test_compiled_layers_trace_the_step_loop():
    """Layers over time compile (the fused kernels are opaque to torch.compile, so the step
    loop is traced), with the eager results and gradients, also inside SequentialState."""
    torch._dynamo.reset()
    torch.manual_seed(0)
    net = snn.SequentialState(snn.LIFRecurrent(6, 5), snn.LIF(), snn.LSNNRecurrent(5, 3))
    compiled = torch.compile(net, backend="aot_eager")
    x = torch.rand(4, 2, 6, requires_grad=True) * 3
    out_e, _ = net(x)
    out_c, _ = compiled(x)
    torch.testing.assert_close(out_c, out_e)
    (g_e,) = torch.autograd.grad(out_e.sum(), x)
    (g_c,) = torch.autograd.grad(out_c.sum(), x)
    torch.testing.assert_close(g_c, g_e)
