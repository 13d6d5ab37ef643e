import pytest
import torch

import norse_core as snn
from norse_core.functional.stdp import stdp_algorithms

ALGORITHMS = ["additive", "additive_step", "multiplicative_pow", "multiplicative_relu"]


def test_algorithm_names_and_unknown_algorithm():
    assert stdp_algorithms() == ALGORITHMS
    with pytest.raises(ValueError, match="unknown stdp_algorithm 'hebb'; valid: additive, additive_step, "
                       "multiplicative_pow, multiplicative_relu"):
        snn.STDPParameters(stdp_algorithm="hebb")
    with pytest.raises(ValueError, match="w_min"):
        snn.STDPParameters(w_min=1.0, w_max=0.0)
    # a replaced, invalid name is caught when the bounds are used
    p = snn.STDPParameters()._replace(stdp_algorithm="hebb")
    with pytest.raises(ValueError, match="unknown stdp_algorithm"):
        snn.stdp_step_linear(torch.zeros(1, 2), torch.zeros(1, 1), torch.zeros(1, 2), None, p)


def test_linear_one_step_by_hand():
    p = snn.STDPParameters(eta_plus=0.1, eta_minus=0.05, hardbound=False)
    z_pre = torch.tensor([[1.0, 0.0]])
    z_post = torch.tensor([[0.0, 1.0]])
    state = snn.STDPState(t_pre=torch.tensor([[0.5, 0.0]]), t_post=torch.tensor([[0.0, 0.25]]))
    w = torch.full((2, 2), 0.5)
    w_new, s = snn.stdp_step_linear(z_pre, z_post, w, state, p)
    # traces: decay by dt*tau_inv = 0.02, jump by a = 1
    torch.testing.assert_close(s.t_pre, torch.tensor([[0.5 * 0.98 + 1.0, 0.0]]))
    torch.testing.assert_close(s.t_post, torch.tensor([[0.0, 0.25 * 0.98 + 1.0]]))
    # only w[1, 0] (post 1 <- pre 0) sees a post spike with a pre trace and a pre spike with a post trace
    expected = torch.full((2, 2), 0.5)
    expected[1, 0] = 0.5 + 0.1 * 1.49 - 0.05 * 1.245
    torch.testing.assert_close(w_new, expected)
    assert w_new[1, 0].item() == pytest.approx(0.58675)


def test_linear_sums_over_batch_and_none_state_is_zero_traces():
    torch.manual_seed(0)
    p = snn.STDPParameters(eta_plus=0.01, eta_minus=0.02, hardbound=False)
    z_pre = (torch.rand(1, 4) < 0.5).float()
    z_post = (torch.rand(1, 3) < 0.5).float()
    z_pre[0, 0] = z_post[0, 0] = 1.0
    w = torch.rand(3, 4)
    w1, s1 = snn.stdp_step_linear(z_pre, z_post, w, None, p)
    w0, _ = snn.stdp_step_linear(z_pre, z_post, w, snn.STDPState(torch.zeros(1, 4), torch.zeros(1, 3)), p)
    torch.testing.assert_close(w1, w0)
    w2, s2 = snn.stdp_step_linear(z_pre.repeat(2, 1), z_post.repeat(2, 1), w, None, p)
    torch.testing.assert_close(w2 - w, 2 * (w1 - w))
    assert s2.t_pre.shape == (2, 4) and s2.t_post.shape == (2, 3)
    assert not torch.equal(w1, w)


def _pair_protocol(p, first, k, w0=0.5, steps=12):
    """One synapse; ``first`` ("pre" or "post") spikes at step 0, the other at step k."""
    w = torch.tensor([[w0]], dtype=torch.float64)
    state = None
    for t in range(steps):
        z_first = torch.tensor([[1.0 if t == 0 else 0.0]], dtype=torch.float64)
        z_second = torch.tensor([[1.0 if t == k else 0.0]], dtype=torch.float64)
        z_pre, z_post = (z_first, z_second) if first == "pre" else (z_second, z_first)
        w, state = snn.stdp_step_linear(z_pre, z_post, w, state, p)
    return w.item()


def _bounds_at(p, w0):
    a_plus, a_minus = p.bounds(torch.tensor(w0, dtype=torch.float64))
    return float(a_plus), float(a_minus)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("k", [1, 3, 6])
def test_pre_before_post_potentiates_post_before_pre_depresses(algorithm, k):
    p = snn.STDPParameters(eta_plus=0.02, eta_minus=0.01, stdp_algorithm=algorithm, mu=0.5)
    w0 = 0.3
    a_plus, a_minus = _bounds_at(p, w0)
    expected_bound = {
        "additive": (0.02, 0.01),
        "additive_step": (0.02, 0.01),
        "multiplicative_pow": (0.02 * 0.7 ** 0.5, 0.01 * 0.3 ** 0.5),
        "multiplicative_relu": (0.02 * 0.7, 0.01 * 0.3),
    }[algorithm]
    assert (a_plus, a_minus) == pytest.approx(expected_bound)
    # the first spike's trace has decayed k times by (1 - dt*tau_inv) when the second comes
    w_ltp = _pair_protocol(p, "pre", k, w0)
    w_ltd = _pair_protocol(p, "post", k, w0)
    assert w_ltp > w0 and w_ltd < w0
    assert w_ltp - w0 == pytest.approx(a_plus * 0.98 ** k, rel=1e-9)
    assert w0 - w_ltd == pytest.approx(a_minus * 0.98 ** k, rel=1e-9)


def test_change_shrinks_with_spike_time_difference():
    p = snn.STDPParameters(eta_plus=0.01, eta_minus=0.01)
    changes = [_pair_protocol(p, "pre", k, steps=30) - 0.5 for k in (1, 5, 20)]
    assert changes[0] > changes[1] > changes[2] > 0


def test_simultaneous_spikes_use_updated_traces():
    # both traces include this step's own spike, so equal a and eta cancel exactly
    p = snn.STDPParameters(eta_plus=0.1, eta_minus=0.1)
    w, _ = snn.stdp_step_linear(torch.ones(1, 1), torch.ones(1, 1), torch.full((1, 1), 0.5), None, p)
    assert w.item() == pytest.approx(0.5)
    p = p._replace(eta_minus=0.0)
    w, _ = snn.stdp_step_linear(torch.ones(1, 1), torch.ones(1, 1), torch.full((1, 1), 0.5), None, p)
    assert w.item() == pytest.approx(0.5 + 0.1 * 1.0)  # t_pre' = a_pre = 1 already in this step


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_hardbound_keeps_weights_in_bounds(algorithm):
    g = torch.Generator().manual_seed(1)
    p = snn.STDPParameters(w_min=-0.2, w_max=0.7, eta_plus=0.05, eta_minus=0.05,
                           stdp_algorithm=algorithm, mu=0.5, hardbound=True)
    w = torch.rand(5, 6, generator=g) * 0.9 - 0.2
    state, at_bound = None, False
    for _ in range(300):
        z_pre = (torch.rand(4, 6, generator=g) < 0.3).float()
        z_post = (torch.rand(4, 5, generator=g) < 0.3).float()
        w, state = snn.stdp_step_linear(z_pre, z_post, w, state, p)
        assert w.min() >= -0.2 and w.max() <= 0.7
        at_bound |= bool(((w == -0.2) | (w == 0.7)).any())
        assert not torch.isnan(w).any()
    if algorithm in ("additive", "additive_step"):
        assert at_bound  # large steps: the clip is exercised


def test_pow_with_mu_below_one_overshoots_without_hardbound():
    # near w_max the step eta*C*(w_max - w)^0.5 is larger than the distance (w_max - w)
    p = snn.STDPParameters(eta_plus=0.005, a_post=0.0, stdp_algorithm="multiplicative_pow", mu=0.5,
                           hardbound=False)
    w, state, ones = torch.zeros(1, 1, dtype=torch.float64), None, torch.ones(1, 1, dtype=torch.float64)
    crossed = False
    for _ in range(2000):
        w, state = snn.stdp_step_linear(ones, ones, w, state, p)
        crossed |= w.item() > 1.0
    assert crossed and torch.isnan(w).all()  # past w_max the fractional power is NaN
    w, _ = snn.stdp_step_linear(ones, ones, torch.ones(1, 1, dtype=torch.float64), None, p._replace(hardbound=True))
    assert w.item() == 1.0


def test_without_hardbound_additive_leaves_bounds():
    p = snn.STDPParameters(eta_plus=0.05, eta_minus=0.0, a_post=0.0, hardbound=False)
    w, state = torch.full((1, 1), 0.9), None
    for t in range(50):
        w, state = snn.stdp_step_linear(torch.ones(1, 1), torch.ones(1, 1), w, state, p)
    assert w.item() > 1.0


@pytest.mark.parametrize("algorithm,mu", [("multiplicative_relu", 0.0), ("multiplicative_pow", 1.0),
                                          ("multiplicative_pow", 2.0)])
def test_soft_bounds_approach_but_never_exceed(algorithm, mu):
    # soft bounds hold for mu >= 1 while eta times one step's correlation stays below 1
    # potentiation only (a_post = 0: no post trace, no depression): w -> w_max from below
    p = snn.STDPParameters(eta_plus=0.005, eta_minus=0.005, a_post=0.0, stdp_algorithm=algorithm,
                           mu=mu, hardbound=False, w_min=-0.5, w_max=0.8)
    w, state = torch.full((1, 1), 0.0, dtype=torch.float64), None
    ones = torch.ones(1, 1, dtype=torch.float64)
    tol = 1e-3 if mu <= 1 else 1e-2  # mu = 2 closes the gap like 1/t, not geometrically
    for _ in range(2000):
        w, state = snn.stdp_step_linear(ones, ones, w, state, p)
        assert w.item() <= 0.8
    assert w.item() > 0.8 - tol
    # depression only (a_pre = 0): w -> w_min from above
    p = p._replace(a_pre=0.0, a_post=1.0)
    state = None
    for _ in range(2000):
        w, state = snn.stdp_step_linear(ones, ones, w, state, p)
        assert w.item() >= -0.5
    assert w.item() < -0.5 + tol
    # random trains with both: stays inside without clipping
    g = torch.Generator().manual_seed(2)
    p = p._replace(a_pre=1.0)
    w, state = torch.rand(3, 4, generator=g, dtype=torch.float64) * 1.3 - 0.5, None
    w_start = w.clone()
    for _ in range(500):
        z_pre = (torch.rand(2, 4, generator=g) < 0.4).double()
        z_post = (torch.rand(2, 3, generator=g) < 0.4).double()
        w, state = snn.stdp_step_linear(z_pre, z_post, w, state, p)
        assert w.min() >= -0.5 and w.max() <= 0.8
    assert not torch.allclose(w, w_start)


def _conv_brute_force(z_pre, z_post, w, state, p, dt=0.001):
    t_pre = state.t_pre * (1 - dt * p.tau_pre_inv) + p.a_pre * z_pre
    t_post = state.t_post * (1 - dt * p.tau_post_inv) + p.a_post * z_post
    s, pad, d = p.stride, p.padding, p.dilation
    tp = torch.nn.functional.pad(t_pre, (pad, pad, pad, pad))
    zp = torch.nn.functional.pad(z_pre, (pad, pad, pad, pad))
    corr_plus = torch.zeros_like(w)
    corr_minus = torch.zeros_like(w)
    batch, c_out, out_h, out_w = z_post.shape
    _, c_in, kh, kw = w.shape
    for b in range(batch):
        for o in range(c_out):
            for y in range(out_h):
                for x in range(out_w):
                    for c in range(c_in):
                        for i in range(kh):
                            for j in range(kw):
                                yy, xx = y * s + i * d, x * s + j * d
                                corr_plus[o, c, i, j] += z_post[b, o, y, x] * tp[b, c, yy, xx]
                                corr_minus[o, c, i, j] += t_post[b, o, y, x] * zp[b, c, yy, xx]
    a_plus, a_minus = p.bounds(w)
    w_new = w + a_plus * corr_plus - a_minus * corr_minus
    if p.hardbound:
        w_new = w_new.clamp(p.w_min, p.w_max)
    return w_new, t_pre, t_post


@pytest.mark.parametrize("stride,padding,dilation", [(1, 0, 1), (2, 1, 1), (1, 2, 2)])
@pytest.mark.parametrize("algorithm", ["additive", "multiplicative_relu"])
def test_conv2d_matches_brute_force(stride, padding, dilation, algorithm):
    g = torch.Generator().manual_seed(3)
    p = snn.STDPParameters(eta_plus=0.03, eta_minus=0.02, stdp_algorithm=algorithm, hardbound=False,
                           convolutional=True, stride=stride, padding=padding, dilation=dilation)
    z_pre = (torch.rand(2, 2, 6, 5, generator=g, dtype=torch.float64) < 0.5).double()
    w = torch.rand(3, 2, 3, 2, generator=g, dtype=torch.float64)
    out_shape = torch.nn.functional.conv2d(z_pre, w, stride=stride, padding=padding, dilation=dilation).shape
    z_post = (torch.rand(out_shape, generator=g, dtype=torch.float64) < 0.5).double()
    state = snn.STDPState(torch.rand(z_pre.shape, generator=g, dtype=torch.float64),
                          torch.rand(out_shape, generator=g, dtype=torch.float64))
    w_new, s = snn.stdp_step_conv2d(z_pre, z_post, w, state, p)
    w_ref, t_pre_ref, t_post_ref = _conv_brute_force(z_pre, z_post, w, state, p)
    torch.testing.assert_close(s.t_pre, t_pre_ref)
    torch.testing.assert_close(s.t_post, t_post_ref)
    torch.testing.assert_close(w_new, w_ref)
    assert not torch.allclose(w_new, w)


def test_conv2d_with_full_kernel_equals_linear():
    # a kernel covering the whole input has one output position: a linear layer on the flat input
    g = torch.Generator().manual_seed(4)
    p = snn.STDPParameters(eta_plus=0.01, eta_minus=0.02)
    w = torch.rand(3, 2, 4, 4, generator=g) * 0.8 + 0.1
    state_c, state_l, w_c, w_l = None, None, w, w.reshape(3, -1)
    for _ in range(20):
        z_pre = (torch.rand(5, 2, 4, 4, generator=g) < 0.3).float()
        z_post = (torch.rand(5, 3, 1, 1, generator=g) < 0.3).float()
        w_c, state_c = snn.stdp_step_conv2d(z_pre, z_post, w_c, state_c, p)
        w_l, state_l = snn.stdp_step_linear(z_pre.flatten(1), z_post.flatten(1), w_l, state_l, p)
    torch.testing.assert_close(w_c.reshape(3, -1), w_l)
    assert not torch.allclose(w_c, w)


def test_linear_error_messages():
    w = torch.zeros(3, 4)
    with pytest.raises(ValueError, match=r"z_pre must be 2-D \(batch, in_features\), got shape \(4,\)"):
        snn.stdp_step_linear(torch.zeros(4), torch.zeros(1, 3), w, None)
    with pytest.raises(ValueError, match=r"w has shape \(4, 3\).*need w of shape \(out_features, in_features\) = \(3, 4\)"):
        snn.stdp_step_linear(torch.zeros(2, 4), torch.zeros(2, 3), w.T, None)
    with pytest.raises(ValueError, match="same batch size"):
        snn.stdp_step_linear(torch.zeros(2, 4), torch.zeros(1, 3), w, None)
    bad = snn.STDPState(torch.zeros(1, 4), torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"state_stdp.t_pre has shape \(1, 4\) but must match z_pre of shape \(2, 4\)"):
        snn.stdp_step_linear(torch.zeros(2, 4), torch.zeros(2, 3), w, bad)
    with pytest.raises(TypeError, match="state_stdp must be an STDPState"):
        snn.stdp_step_linear(torch.zeros(2, 4), torch.zeros(2, 3), w, (torch.zeros(2, 4), torch.zeros(2, 3)))


def test_conv2d_error_messages():
    w = torch.zeros(3, 2, 3, 3)
    z_pre = torch.zeros(1, 2, 5, 5)
    with pytest.raises(ValueError, match=r"z_post has shape \(1, 3, 5, 5\) but conv2d of z_pre \(1, 2, 5, 5\).*gives \(1, 3, 3, 3\)"):
        snn.stdp_step_conv2d(z_pre, torch.zeros(1, 3, 5, 5), w, None)
    p = snn.STDPParameters(padding=1)
    snn.stdp_step_conv2d(z_pre, torch.zeros(1, 3, 5, 5), w, None, p)  # padding 1 keeps 5x5
    with pytest.raises(ValueError, match=r"z_pre of shape \(1, 4, 5, 5\) has 4 input channels"):
        snn.stdp_step_conv2d(torch.zeros(1, 4, 5, 5), torch.zeros(1, 3, 3, 3), w, None)
    with pytest.raises(ValueError, match=r"w must be 4-D \(out_channels, in_channels, kernel_h, kernel_w\), got shape \(3, 18\)"):
        snn.stdp_step_conv2d(z_pre, torch.zeros(1, 3, 3, 3), w.flatten(1), None)
    with pytest.raises(ValueError, match="does not fit"):
        snn.stdp_step_conv2d(torch.zeros(1, 2, 2, 2), torch.zeros(1, 3, 1, 1), w, None)
    with pytest.raises(ValueError, match="p_stdp.stride must be an int or a pair"):
        snn.stdp_step_conv2d(z_pre, torch.zeros(1, 3, 3, 3), w, None, snn.STDPParameters(stride=(1, 1, 1)))
