"""Functional steps against the reference traces and hand-computed equations of the spec."""

import pytest
import torch

import norse_core as snn

LIF_V = [0.1, 0.27, 0.487, 0.7335, 0.9963, 0.0, 0.3951, 0.7717, 0.0]
LIF_I = [0.8, 1.44, 1.952, 2.3616, 2.6893, 2.9514]


def test_lif_feed_forward_reference_trace():
    state = snn.LIFFeedForwardState(torch.zeros(1), torch.zeros(1))
    vs, currents, spikes = [], [], []
    for _ in range(9):
        z, state = snn.lif_feed_forward_step(torch.ones(1), state)
        vs.append(state.v.item()), currents.append(state.i.item()), spikes.append(z.item())
    assert vs == pytest.approx(LIF_V, abs=1e-4)
    assert currents[:6] == pytest.approx(LIF_I, abs=1e-4)
    assert spikes == [0, 0, 0, 0, 0, 1, 0, 0, 1]


def test_lif_current_encoder_trace():
    v = torch.zeros(1)
    trace = []
    for _ in range(10):
        z, v = snn.lif_current_encoder(torch.ones(1), v)
        trace.append(v.item())
        assert z.item() == 0
    assert trace[:5] == pytest.approx([0.1, 0.19, 0.271, 0.3439, 0.4095], abs=1e-4)
    assert trace[9] == pytest.approx(0.6513, abs=1e-4)


def test_lif_current_encoder_spikes_and_resets():
    z, v = snn.lif_current_encoder(torch.tensor([20.0]), torch.tensor([0.5]))
    assert z.item() == 1 and v.item() == 0.0


def test_lif_recurrent_step_matches_equations():
    torch.manual_seed(0)
    x, w_in, w_rec = torch.randn(3, 2), torch.randn(4, 2), torch.randn(4, 4)
    state = snn.LIFState(z=torch.tensor([[1.0, 0, 1, 0]] * 3), v=torch.rand(3, 4), i=torch.rand(3, 4))
    z, new = snn.lif_step(x, state, w_in, w_rec)
    ff_z, ff = snn.lif_feed_forward_step(
        x @ w_in.T + state.z @ w_rec.T, snn.LIFFeedForwardState(state.v, state.i)
    )
    torch.testing.assert_close(z, ff_z)
    torch.testing.assert_close(new.v, ff.v)
    torch.testing.assert_close(new.i, ff.i)
    assert new.z is z


def test_lif_recurrent_reset_is_detached_feed_forward_is_not():
    p = snn.LIFParameters(v_reset=-1.0)
    v = torch.tensor([0.95], requires_grad=True)
    _, s = snn.lif_feed_forward_step(torch.full((1,), 10.0), snn.LIFFeedForwardState(v, torch.zeros(1)), p)
    (g_ff,) = torch.autograd.grad(s.v.sum(), v)
    v2 = torch.tensor([0.95], requires_grad=True)
    st = snn.LIFState(torch.zeros(1), v2, torch.zeros(1))
    _, s2 = snn.lif_step(torch.full((1,), 10.0), st, torch.eye(1), torch.zeros(1, 1), p)
    (g_rec,) = torch.autograd.grad(s2.v.sum(), v2)
    # v' = (1-z) v_d + z v_reset with z = 1: only the surrogate path carries gradient to v.
    assert g_rec.item() == 0.0
    assert g_ff.item() != 0.0


def test_li_trace_by_hand():
    state = snn.LIState(torch.zeros(1), torch.zeros(1))
    v, i, expected = 0.0, 0.0, []
    for _ in range(5):
        i_j = i + 1.0
        v = v + 0.001 * 100 * (-v + i_j)
        i = i_j - 0.001 * 200 * i_j
        expected.append(v)
    outs = []
    for _ in range(5):
        out, state = snn.li_feed_forward_step(torch.ones(1), state)
        outs.append(out.item())
    assert outs == pytest.approx(expected)
    assert outs[0] == pytest.approx(0.1) and outs[1] == pytest.approx(0.27)


def test_li_step_applies_weights():
    w = torch.tensor([[2.0, 0.0], [0.0, -1.0]])
    out, _ = snn.li_step(torch.ones(2), snn.LIState(torch.zeros(2), torch.zeros(2)), w)
    assert out.tolist() == pytest.approx([0.2, -0.1])


def test_gradcheck_lif_and_li_float64():
    torch.manual_seed(0)
    p = snn.LIFParameters(method="heaviside", v_th=10.0)  # far from threshold: smooth
    x = torch.randn(5, dtype=torch.float64, requires_grad=True)
    v = torch.rand(5, dtype=torch.float64, requires_grad=True)
    i = torch.rand(5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, v, i: tuple(snn.lif_feed_forward_step(x, snn.LIFFeedForwardState(v, i), p)[1]), (x, v, i)
    )
    assert torch.autograd.gradcheck(lambda x, v, i: snn.li_feed_forward_step(x, snn.LIState(v, i))[0], (x, v, i))


@pytest.mark.parametrize("reset_method,expected_v", [("value", 0.0), ("subtract", 0.5)])
def test_lif_box_resets(reset_method, expected_v):
    p = snn.LIFBoxParameters(reset_method=reset_method)
    # v_d = 1.0 + 0.1*(0 - 1.0 + 6.0) = 1.5 > v_th
    z, s = snn.lif_box_feed_forward_step(torch.tensor([6.0]), snn.LIFBoxFeedForwardState(torch.ones(1)), p)
    assert z.item() == 1.0 and s.v.item() == pytest.approx(expected_v)


def test_lif_box_subthreshold_and_li_box():
    z, s = snn.lif_box_feed_forward_step(torch.ones(1), snn.LIFBoxFeedForwardState(torch.zeros(1)))
    assert z.item() == 0 and s.v.item() == pytest.approx(0.1)
    out, s = snn.li_box_step(torch.ones(1), snn.LIBoxState(torch.full((1,), 0.5)))
    assert out.item() == pytest.approx(0.5 + 0.1 * 0.5)


def test_iaf_feed_forward_and_recurrent():
    state, spikes = snn.IAFFeedForwardState(torch.zeros(1)), []
    for _ in range(6):
        z, state = snn.iaf_feed_forward_step(torch.tensor([0.4]), state)
        spikes.append(z.item())
    assert spikes == [0, 0, 1, 0, 0, 1]  # 0.4, 0.8, 1.2 -> reset
    z, s = snn.iaf_step(
        torch.ones(1, 1), snn.IAFState(torch.ones(1, 2), torch.zeros(1, 2)), torch.ones(2, 1), torch.eye(2) * 0.5
    )
    assert z.tolist() == [[1.0, 1.0]] and s.v.tolist() == [[0.0, 0.0]]
