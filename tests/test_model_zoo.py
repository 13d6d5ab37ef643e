"""LSNN, LIFEx, LIFAdEx, CobaLIF, refractory and multi-compartment LIF: hand-computed traces
of the spec's equations, cells vs layers, recurrent weights, gradients."""

import math

import pytest
import torch

from norse_core.functional.coba_lif import CobaLIFFeedForwardState, CobaLIFParameters, coba_lif_feed_forward_step, coba_lif_step, CobaLIFState
from norse_core.functional.lif import LIFFeedForwardState, LIFParameters, LIFState, lif_step
from norse_core.functional.lif_adex import LIFAdExFeedForwardState, LIFAdExParameters, lif_adex_feed_forward_step
from norse_core.functional.lif_ex import LIFExFeedForwardState, LIFExParameters, lif_ex_feed_forward_step
from norse_core.functional.lif_mc import lif_mc_step
from norse_core.functional.lif_refrac import LIFRefracFeedForwardState, LIFRefracParameters, lif_refrac_feed_forward_step
from norse_core.functional.lsnn import LSNNFeedForwardState, LSNNParameters, LSNNState, lsnn_feed_forward_step, lsnn_step
from norse_core.module import coba_lif, lif_adex, lif_ex, lif_mc, lif_refrac, lsnn

DT = 0.001


def _run(step, state, p, xs):
    outs, states = [], []
    for x in xs:
        z, state = step(torch.tensor([x]), state, p, DT)
        outs.append(z.item())
        states.append(state)
    return outs, states


def test_lsnn_trace_by_hand():
    p = LSNNParameters(tau_adapt_inv=50.0, beta=0.5)
    xs = [3.0] * 12
    v = i = 0.0
    b = 1.0
    expected_z, expected_b = [], []
    for x in xs:
        i_j = i + x
        v_d = v + DT * 100 * (-v + i_j)
        i = i_j - DT * 200 * i_j
        b_d = b + DT * 50.0 * (1.0 - b)
        z = 1.0 if v_d - b_d > 0 else 0.0
        v = (1 - z) * v_d
        b = b_d + 0.5 * z
        expected_z.append(z), expected_b.append(b)
    one = torch.zeros(1)
    outs, states = _run(lsnn_feed_forward_step, LSNNFeedForwardState(one, one.clone(), torch.ones(1)), p, xs)
    assert outs == expected_z and sum(outs) >= 1
    assert [s.b.item() for s in states] == pytest.approx(expected_b)


def test_lsnn_input_reaches_v_in_the_same_step():  # deliberate change vs Norse
    _, s = lsnn_feed_forward_step(torch.ones(1), LSNNFeedForwardState(torch.zeros(1), torch.zeros(1), torch.ones(1)))
    assert s.v.item() == pytest.approx(0.1)


def test_lsnn_threshold_adapts_and_reduces_firing():
    x = torch.full((300, 1), 4.0)
    adaptive, _ = lsnn.LSNN(LSNNParameters(tau_adapt_inv=5.0, beta=1.0))(x)
    plain, _ = lsnn.LSNN(LSNNParameters(beta=0.0))(x)
    assert 0 < adaptive.sum() < plain.sum()
    late, early = adaptive[200:].sum(), adaptive[:100].sum()
    assert late < early


def test_lif_ex_trace_by_hand():
    p = LIFExParameters()
    v = i = 0.0
    expected = []
    for x in [2.0] * 6:
        i_j = i + x
        v_d = v + DT * 100 * ((0 - v) + 0.5 * math.exp((v - 1) / 0.5) + i_j)
        i = i_j - DT * 200 * i_j
        z = 1.0 if v_d > 1 else 0.0
        v = (1 - z) * v_d
        expected.append(v)
    _, states = _run(lif_ex_feed_forward_step, LIFExFeedForwardState(torch.zeros(1), torch.zeros(1)), p, [2.0] * 6)
    assert [s.v.item() for s in states] == pytest.approx(expected, rel=1e-5)


def test_lif_adex_trace_by_hand():
    p = LIFAdExParameters()
    v = i = a = 0.0
    exp_v, exp_a = [], []
    for x in [3.0] * 8:
        i_j = i + x
        v_d = v + DT * 100 * ((0 - v) + 0.5 * math.exp((v - 1) / 0.5) + i_j - a)
        i = i_j - DT * 200 * i_j
        z = 1.0 if v_d > 1 else 0.0
        a = a + DT * 2.0 * (4.0 * (v - 0) - a) + z * 0.02
        v = (1 - z) * v_d
        exp_v.append(v), exp_a.append(a)
    zero = torch.zeros(1)
    _, states = _run(lif_adex_feed_forward_step, LIFAdExFeedForwardState(zero, zero.clone(), zero.clone()), p, [3.0] * 8)
    assert [s.v.item() for s in states] == pytest.approx(exp_v, rel=1e-5)
    assert [s.a.item() for s in states] == pytest.approx(exp_a, rel=1e-5, abs=1e-9)
    assert states[-1].a.item() > 0


def test_coba_lif_trace_by_hand():
    p = CobaLIFParameters()
    v, g_e, g_i = -20.0, 0.0, 0.0
    expected = []
    for x in [5.0, -2.0, 3.0, 0.0]:
        g_e += max(x, 0.0)
        g_i += max(-x, 0.0)
        g_e *= 1 - DT * 0.2
        g_i *= 1 - DT * 0.2
        v += DT * 5 * (0.25 * (-20 - v) + g_e * (60 - v) + g_i * (-100 - v))
        z = 1.0 if v > -10 else 0.0
        v = (1 - z) * v + z * -70
        expected.append(v)
    state = CobaLIFFeedForwardState(torch.full((1,), -20.0), torch.zeros(1), torch.zeros(1))
    _, states = _run(coba_lif_feed_forward_step, state, p, [5.0, -2.0, 3.0, 0.0])
    assert [s.v.item() for s in states] == pytest.approx(expected, rel=1e-5)


def test_coba_recurrent_step_uses_the_input():  # deliberate change vs Norse
    state = CobaLIFState(torch.zeros(1, 2), torch.full((1, 2), -20.0), torch.zeros(1, 2), torch.zeros(1, 2))
    w_in = torch.tensor([[1.0], [-1.0]])
    _, s = coba_lif_step(torch.ones(1, 1), state, w_in, torch.zeros(2, 2))
    assert s.g_e[0, 0] > 0 and s.g_i[0, 0] == 0 and s.g_i[0, 1] > 0 and s.g_e[0, 1] == 0


def test_refractory_period_by_hand():
    p = LIFRefracParameters(LIFParameters(), rho_reset=3.0)
    state = LIFRefracFeedForwardState(LIFFeedForwardState(torch.zeros(1), torch.zeros(1)), torch.zeros(1))
    spikes, rhos = [], []
    for _ in range(30):
        z, state = lif_refrac_feed_forward_step(torch.tensor([10.0]), state, p)
        spikes.append(int(z.item()))
        rhos.append(state.rho.item())
    first = spikes.index(1)
    assert rhos[first] == 3.0
    assert spikes[first + 1 : first + 4] == [0, 0, 0]  # silent while rho counts down
    assert rhos[first + 1 : first + 4] == [2.0, 1.0, 0.0]
    gaps = [b - a for a, b in zip([k for k, s in enumerate(spikes) if s], [k for k, s in enumerate(spikes) if s][1:])]
    assert min(gaps) >= 4
    # without the refractory period the same drive fires faster
    assert sum(spikes) < lif_refrac.LIFRefrac(LIFRefracParameters(rho_reset=0.0))(torch.full((30, 1), 10.0))[0].sum()


def test_multi_compartment_couples_voltages():
    state = LIFState(torch.zeros(1, 2), torch.tensor([[0.5, 0.0]]), torch.zeros(1, 2))
    g = torch.tensor([[0.0, 0.0], [100.0, 0.0]])
    _, coupled = lif_mc_step(torch.zeros(1, 1), state, torch.zeros(2, 1), torch.zeros(2, 2), g)
    _, plain = lif_step(torch.zeros(1, 1), state, torch.zeros(2, 1), torch.zeros(2, 2))
    # compartment 1 receives dt*100*0.5 = 0.05 from compartment 0 before the LIF step
    assert coupled.v[0, 1].item() == pytest.approx(0.05 * (1 - 0.1))
    assert plain.v[0, 1].item() == 0.0
    assert coupled.v[0, 0].item() == pytest.approx(plain.v[0, 0].item())


def test_lsnn_recurrent_step_detaches_reset():
    state = LSNNState(torch.zeros(1, 1), torch.tensor([[0.95]], requires_grad=True), torch.zeros(1, 1), torch.ones(1, 1))
    z, s = lsnn_step(torch.full((1, 1), 10.0), state, torch.eye(1), torch.zeros(1, 1))
    (g,) = torch.autograd.grad(s.v.sum(), state.v)
    assert z.item() == 1 and g.item() == 0.0


FEED_FORWARD = [
    (lsnn.LSNNCell, lsnn.LSNN, LSNNParameters(tau_adapt_inv=10.0)),
    (lif_ex.LIFExCell, lif_ex.LIFEx, LIFExParameters()),
    (lif_adex.LIFAdExCell, lif_adex.LIFAdEx, LIFAdExParameters()),
    (lif_adex.LIFAdExRefracCell, lif_adex.LIFAdExRefrac, None),
    (lif_refrac.LIFRefracCell, lif_refrac.LIFRefrac, None),
    (coba_lif.CobaLIFCell, coba_lif.CobaLIF, CobaLIFParameters(tau_syn_exc_inv=100.0)),
]
RECURRENT = [
    (lsnn.LSNNRecurrentCell, lsnn.LSNNRecurrent),
    (lif_ex.LIFExRecurrentCell, lif_ex.LIFExRecurrent),
    (lif_adex.LIFAdExRecurrentCell, lif_adex.LIFAdExRecurrent),
    (lif_adex.LIFAdExRefracRecurrentCell, lif_adex.LIFAdExRefracRecurrent),
    (lif_refrac.LIFRefracRecurrentCell, lif_refrac.LIFRefracRecurrent),
    (coba_lif.CobaLIFRecurrentCell, coba_lif.CobaLIFRecurrent),
    (lif_mc.LIFMCRecurrentCell, lif_mc.LIFMCRecurrent),
    (lif_mc.LIFMCRefracRecurrentCell, lif_mc.LIFMCRefracRecurrent),
]


@pytest.mark.parametrize("cell_cls,layer_cls,p", FEED_FORWARD)
def test_cell_equals_layer(cell_cls, layer_cls, p):
    torch.manual_seed(0)
    x = torch.rand(40, 2, 5) * 8
    cell, layer = cell_cls(p), layer_cls(p)
    state, outs = None, []
    for t in range(40):
        out, state = cell(x[t], state)
        outs.append(out)
    layer_out, _ = layer(x)
    torch.testing.assert_close(layer_out, torch.stack(outs))
    assert layer_out.sum() > 0


@pytest.mark.parametrize("cell_cls,layer_cls", RECURRENT)
def test_recurrent_cells(cell_cls, layer_cls):
    torch.manual_seed(0)
    layer = layer_cls(3, 6)
    assert layer.input_weights.shape == (6, 3) and layer.recurrent_weights.shape == (6, 6)
    assert torch.all(torch.diagonal(layer.recurrent_weights) == 0)  # no autapses by default
    extra = {"g_coupling": layer.g_coupling} if hasattr(layer, "g_coupling") else {}
    cell = cell_cls(3, 6, input_weights=layer.input_weights, recurrent_weights=layer.recurrent_weights, **extra)
    x = torch.rand(30, 2, 3) * 10
    state, outs = None, []
    for t in range(30):
        out, state = cell(x[t], state)
        outs.append(out)
    layer_out, _ = layer(x)
    torch.testing.assert_close(layer_out, torch.stack(outs))
    assert layer_out.shape == (30, 2, 6)


@pytest.mark.parametrize("cell_cls,layer_cls,p", FEED_FORWARD)
def test_gradients_reach_inputs_and_trainable_parameters(cell_cls, layer_cls, p):
    p = p if p is not None else cell_cls.parameters_type()
    name = "lif.tau_mem_inv" if "lif" in p._fields else "lif_adex.tau_mem_inv" if "lif_adex" in p._fields else (
        "c_m_inv" if "c_m_inv" in p._fields else "tau_mem_inv")
    layer = layer_cls(p, trainable=(name,))
    x = (torch.rand(40, 2, 5) * 8).requires_grad_()
    out, state = layer(x)
    leaves = [t for t in torch.utils._pytree.tree_leaves(state)]
    (out.sum() + sum(t.sum() for t in leaves)).backward()
    assert x.grad.abs().sum() > 0
    assert getattr(layer, "p_" + name.replace(".", "_")).grad.abs().sum() > 0


def test_initial_states():
    assert lsnn.LSNNCell(LSNNParameters(v_th=0.7)).initial_state(torch.zeros(2)).b.tolist() == pytest.approx([0.7, 0.7])
    assert coba_lif.CobaLIFCell().initial_state(torch.zeros(1)).v.item() == -20.0
    s = lif_refrac.LIFRefracRecurrentCell(2, 3, LIFRefracParameters(LIFParameters(v_leak=0.25))).initial_state(torch.zeros(4, 2))
    assert s.lif.v.shape == (4, 3) and torch.all(s.lif.v == 0.25) and torch.all(s.rho == 0) and s.lif.z.shape == (4, 3)


def test_nested_state_shape_check_names_the_field():
    cell = lif_refrac.LIFRefracCell()
    _, state = cell(torch.ones(3))
    with pytest.raises(ValueError, match=r"state.lif.v has shape \(3,\)"):
        cell(torch.ones(4), state)
    with pytest.raises(ValueError, match="unknown threshold method 'nope'"):
        lif_refrac.LIFRefracCell(LIFRefracParameters(LIFParameters(method="nope")))
