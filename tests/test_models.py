"""Functional steps against the reference traces and hand-computed equations of the spec."""

import math

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


# -- the subtract reset (reset_method="subtract": v' = v_d - z*v_th) --------------------------------

#: LIF defaults, x = 1 from rest: as LIF_V up to the first spike, then v_d - v_th instead of
#: v_reset (step 6: 1.2656 - 1; step 9: 1.3211 - 1).
LIF_SUBTRACT_V = [0.1, 0.27, 0.487, 0.7335, 0.9963, 0.2656, 0.6342, 0.9869, 0.3211]


def test_lif_subtract_reference_trace():
    p = snn.LIFParameters(v_reset=-5.0, reset_method="subtract")  # v_reset is not used
    state = snn.LIFFeedForwardState(torch.zeros(1), torch.zeros(1))
    vs, currents, spikes = [], [], []
    for _ in range(9):
        z, state = snn.lif_feed_forward_step(torch.ones(1), state, p)
        vs.append(state.v.item()), currents.append(state.i.item()), spikes.append(z.item())
    assert vs == pytest.approx(LIF_SUBTRACT_V, abs=1e-4)
    assert currents[:6] == pytest.approx(LIF_I, abs=1e-4)
    assert spikes == [0, 0, 0, 0, 0, 1, 0, 0, 1]


def test_iaf_subtract_reference_trace():
    """x = 0.25 (exact in binary): 0.25, 0.5, 0.75, 1.0 (no spike: strict threshold), then
    1.25 spikes and keeps 1.25 - 1 = 0.25 (reset to value: v_reset = -0.5)."""
    for method, after in (("subtract", 0.25), ("value", -0.5)):
        p = snn.IAFParameters(v_reset=-0.5, reset_method=method)
        state, vs, spikes = snn.IAFFeedForwardState(torch.zeros(1)), [], []
        for _ in range(6):
            z, state = snn.iaf_feed_forward_step(torch.tensor([0.25]), state, p)
            vs.append(state.v.item()), spikes.append(z.item())
        assert spikes == [0, 0, 0, 0, 1, 0]
        assert vs == [0.25, 0.5, 0.75, 1.0, after, after + 0.25]


def test_lsnn_subtract_removes_v_th_not_the_adapted_threshold():
    """v = 1.4, b = 1.2, x = 5: v_d = 1.4 + 0.1*(-1.4 + 5) = 1.76 > b_d; v' = 1.76 - v_th = 0.76
    (not 1.76 - b_d = 0.56), b' = b_d + beta."""
    p = snn.LSNNParameters(reset_method="subtract")
    state = snn.LSNNFeedForwardState(torch.tensor([1.4]), torch.zeros(1), torch.tensor([1.2]))
    z, new = snn.lsnn_feed_forward_step(torch.tensor([5.0]), state, p)
    b_d = 1.2 + 0.001 / 800 * (1.0 - 1.2)
    assert z.item() == 1.0
    assert new.v.item() == pytest.approx(0.76) and new.b.item() == pytest.approx(b_d + 1.8)


def _lif_ex_vd(v, x, a=0.0):
    """LIFEx/LIFAdEx defaults: v_d = v + 0.1*((0 - v) + 0.5*exp((v - 1)/0.5) + x - a)."""
    return v + 0.1 * ((0.0 - v) + 0.5 * math.exp((v - 1.0) / 0.5) + x - a)


def test_exponential_models_subtract_one_step():
    v_d = _lif_ex_vd(0.9, 3.0)  # 1.1488...
    z, s = snn.lif_ex_feed_forward_step(torch.tensor([3.0]), snn.LIFExFeedForwardState(torch.tensor([0.9]), torch.zeros(1)),
                                        snn.LIFExParameters(reset_method="subtract"))
    assert z.item() == 1.0 and s.v.item() == pytest.approx(v_d - 1.0)
    v_d = _lif_ex_vd(0.9, 3.0, a=0.1)
    state = snn.LIFAdExFeedForwardState(torch.tensor([0.9]), torch.zeros(1), torch.tensor([0.1]))
    z, s = snn.lif_adex_feed_forward_step(torch.tensor([3.0]), state, snn.LIFAdExParameters(reset_method="subtract"))
    assert z.item() == 1.0 and s.v.item() == pytest.approx(v_d - 1.0)
    assert s.a.item() == pytest.approx(0.1 + 0.001 * 2.0 * (4.0 * 0.9 - 0.1) + 0.02)  # a' with the pre-step v


def test_refractory_models_subtract_then_hold():
    """The spike subtracts v_th and starts the countdown; the next step keeps that voltage."""
    p = snn.LIFRefracParameters(snn.LIFParameters(reset_method="subtract"), rho_reset=2.0)
    state = snn.LIFRefracFeedForwardState(snn.LIFFeedForwardState(torch.tensor([0.95]), torch.zeros(1)), torch.zeros(1))
    z, state = snn.lif_refrac_feed_forward_step(torch.tensor([2.0]), state, p)
    v_d = 0.95 + 0.1 * (-0.95 + 2.0)  # 1.055
    assert z.item() == 1.0 and state.lif.v.item() == pytest.approx(v_d - 1.0) and state.rho.item() == 2.0
    z, held = snn.lif_refrac_feed_forward_step(torch.tensor([2.0]), state, p)
    assert z.item() == 0.0 and held.lif.v.item() == pytest.approx(v_d - 1.0) and held.rho.item() == 1.0
    p = snn.LIFAdExRefracParameters(snn.LIFAdExParameters(reset_method="subtract"))
    inner = snn.LIFAdExFeedForwardState(torch.tensor([0.9]), torch.zeros(1), torch.zeros(1))
    z, state = snn.lif_adex_refrac_feed_forward_step(torch.tensor([3.0]), snn.LIFAdExRefracFeedForwardState(inner, torch.zeros(1)), p)
    assert z.item() == 1.0 and state.lif_adex.v.item() == pytest.approx(_lif_ex_vd(0.9, 3.0) - 1.0) and state.rho.item() == 5.0


def test_coba_lif_subtract_one_step():
    """Voltages measured from the reset level (v_rest = v_reset = 0, v_thresh = 10):
    g_e = 1*(1 - 0.001*0.2); v_d = 9.9 + 0.005*(0.25*(0 - 9.9) + g_e*(60 - 9.9)) > 10; v' = v_d - 10."""
    p = snn.CobaLIFParameters(v_rest=0.0, v_reset=0.0, v_thresh=10.0, reset_method="subtract")
    state = snn.CobaLIFFeedForwardState(torch.tensor([9.9]), torch.zeros(1), torch.zeros(1))
    z, s = snn.coba_lif_feed_forward_step(torch.tensor([1.0]), state, p)
    g_e = 1.0 * (1 - 0.001 * 0.2)
    v_d = 9.9 + 0.001 * 5.0 * (0.25 * (0.0 - 9.9) + g_e * (60.0 - 9.9))
    assert z.item() == 1.0 and s.v.item() == pytest.approx(v_d - 10.0)


def test_lif_mc_subtract_one_step():
    """Coupling first (v += dt*linear(v, g)), then the LIF step with the subtract reset."""
    g = torch.tensor([[0.0, 100.0], [0.0, 0.0]])
    state = snn.LIFFeedForwardState(torch.tensor([0.9, 1.0]), torch.zeros(2))
    z, s = snn.lif_mc_feed_forward_step(torch.tensor([2.0, 0.0]), state, g, snn.LIFParameters(reset_method="subtract"))
    v0 = 0.9 + 0.001 * 100.0 * 1.0  # 1.0 after the coupling
    v_d = [v0 + 0.1 * (-v0 + 2.0), 1.0 + 0.1 * -1.0]  # 1.1 spikes, 0.9 does not
    assert z.tolist() == [1.0, 0.0] and s.v.tolist() == pytest.approx([v_d[0] - 1.0, v_d[1]])


def test_recurrent_subtract_reset_is_detached():
    """As the value reset: the recurrent step's reset takes z.detach(), so dv'/dv is (1 - a)
    alone; the feed-forward step adds the surrogate path -v_th*dz/dv."""
    p = snn.LIFParameters(reset_method="subtract")
    v = torch.tensor([0.95], requires_grad=True)
    _, s = snn.lif_step(torch.full((1,), 10.0), snn.LIFState(torch.zeros(1), v, torch.zeros(1)), torch.eye(1), torch.zeros(1, 1), p)
    (g_rec,) = torch.autograd.grad(s.v.sum(), v)
    v2 = torch.tensor([0.95], requires_grad=True)
    _, s2 = snn.lif_feed_forward_step(torch.full((1,), 10.0), snn.LIFFeedForwardState(v2, torch.zeros(1)), p)
    (g_ff,) = torch.autograd.grad(s2.v.sum(), v2)
    assert s.v.item() == pytest.approx(s2.v.item()) and g_rec.item() == pytest.approx(0.9)
    assert g_ff.item() != pytest.approx(0.9)


@pytest.mark.parametrize("step, state, p", [
    (snn.lif_feed_forward_step, snn.LIFFeedForwardState(torch.zeros(1), torch.zeros(1)), snn.LIFParameters(reset_method="zero")),
    (snn.iaf_feed_forward_step, snn.IAFFeedForwardState(torch.zeros(1)), snn.IAFParameters(reset_method=3)),
    (snn.coba_lif_feed_forward_step, snn.CobaLIFFeedForwardState(*torch.zeros(3, 1)), snn.CobaLIFParameters(reset_method="reset")),
])
def test_unknown_reset_method_in_a_step_function_is_named(step, state, p):
    with pytest.raises(ValueError, match=r"unknown reset_method .*; valid: value, subtract or a function \(z, v, v_reset, v_th\)"):
        step(torch.ones(1), state, p)


def test_a_reset_function_is_applied_by_every_model():
    """Norse's reset functions by name or as functions, and a user's function ``(z, v, v_reset,
    v_th) -> v'`` (here: keep the pre-reset voltage, so v' = v_d)."""
    keep = lambda z, v, v_reset, v_th: v  # noqa: E731
    x, state = torch.tensor([3.0]), snn.LSNNFeedForwardState(torch.tensor([0.9]), torch.zeros(1), torch.ones(1))
    v_d = {}
    for method in (keep, "subtract", snn.reset_subtract, "value", snn.reset_value):
        z, s = snn.lsnn_feed_forward_step(x, state, snn.LSNNParameters(v_reset=-0.5, reset_method=method))
        assert z.item() == 1.0
        v_d[method] = s.v.item()
    assert v_d["subtract"] == v_d[snn.reset_subtract] == pytest.approx(v_d[keep] - 1.0)
    assert v_d["value"] == v_d[snn.reset_value] == -0.5


def test_current_encoders_apply_the_reset_method():
    """v_d = 0.5 + 0.1*(-0.5 + 20) = 2.45 spikes: to v_reset = -0.2, or 2.45 - v_th = 1.45."""
    for method, expected in (("value", -0.2), ("subtract", 1.45)):
        z, v = snn.lif_current_encoder(torch.tensor([20.0]), torch.tensor([0.5]), snn.LIFParameters(v_reset=-0.2, reset_method=method))
        assert z.item() == 1 and v.item() == pytest.approx(expected)
        v_d = _lif_ex_vd(0.5, 20.0)
        z, v = snn.lif_ex_current_encoder(torch.tensor([20.0]), torch.tensor([0.5]), snn.LIFExParameters(v_reset=-0.2, reset_method=method))
        assert z.item() == 1 and v.item() == pytest.approx(-0.2 if method == "value" else v_d - 1.0)
        z, v, _ = snn.lif_adex_current_encoder(torch.tensor([20.0]), torch.tensor([0.5]), torch.zeros(1),
                                               snn.LIFAdExParameters(v_reset=-0.2, reset_method=method))
        assert z.item() == 1 and v.item() == pytest.approx(-0.2 if method == "value" else v_d - 1.0)
