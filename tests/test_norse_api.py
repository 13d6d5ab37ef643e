"""Norse's further API (module paths, named surrogates, resets, logic, lifting, encoders and
the smaller step functions), checked from the equations; without Norse installed."""

import importlib
import math

import pytest
import torch

import norse_core as snn
th = importlib.import_module("norse_core.functional.threshold")  # the module (the package re-exports a function)


@pytest.mark.parametrize("alias, target", [
    ("functional.leaky_integrator", "functional.li"),
    ("functional.leaky_integrator_box", "functional.li_box"),
    ("functional.heaviside", "functional.threshold"),
    ("functional.superspike", "functional.threshold"),
    ("functional.lif_mc_refrac", "functional.lif_mc"),
    ("module.leaky_integrator", "module.li"),
    ("module.leaky_integrator_box", "module.li_box"),
    ("module.lift", "module.sequential"),
    ("module.lif_adex_refrac", "module.lif_adex"),
    ("module.lif_mc_refrac", "module.lif_mc"),
    ("utils.export_nir", "nir"),
    ("utils.import_nir", "nir"),
])
def test_norse_module_paths(alias, target):
    assert importlib.import_module(f"norse_core.{alias}") is importlib.import_module(f"norse_core.{target}")


def test_package_attributes_keep_their_functions():
    assert callable(snn.functional.heaviside) and callable(snn.functional.lift)
    from norse_core.functional.heaviside import heaviside
    assert heaviside is snn.heaviside


@pytest.mark.parametrize("function, method, alpha", [
    (th.super_fn, "super", 100.0), (th.triangle_fn, "triangle", 0.3), (th.heavi_tanh_fn, "tanh", 2.0),
    (th.heavi_erfc_fn, "heavi_erfc", 2.0), (th.heavi_circ_fn, "circ", 2.0),
])
def test_named_surrogates_are_the_methods(function, method, alpha):
    x = torch.linspace(-1, 1, 9, dtype=torch.float64, requires_grad=True)
    args = (x,) if function in (th.super_fn, th.triangle_fn) else (x, alpha)
    (g,) = torch.autograd.grad(function(*args).sum(), x)
    x2 = x.detach().clone().requires_grad_()
    (g_ref,) = torch.autograd.grad(th.threshold(x2, method, alpha).sum(), x2)
    torch.testing.assert_close(g, g_ref)
    assert torch.equal(function(*args), (x > 0).double())


def test_sign_and_stochastic_surrogates():
    x = torch.tensor([-0.5, 0.0, 0.5])
    assert th.sign(x, "super", 10.0).tolist() == [-1.0, -1.0, 1.0]
    torch.manual_seed(0)
    big = torch.full((1000,), 50.0)
    assert th.circ_dist_fn(big, 0.1).mean() > 0.99 and th.logistic_fn(-big, 0.1).mean() < 0.01
    x = torch.tensor([0.3], requires_grad=True)
    th.circ_dist_fn(x, 2.0).sum().backward()
    assert x.grad.item() == pytest.approx(2.0**3 / (4 + 0.09) ** 1.5)


def test_reset_functions():
    z, v = torch.tensor([0.0, 1.0]), torch.tensor([0.5, 1.3])
    assert snn.reset_value(z, v, -0.1, 1.0).tolist() == pytest.approx([0.5, -0.1])
    assert snn.reset_subtract(z, v, -0.1, 1.0).tolist() == pytest.approx([0.5, 0.3])


@pytest.mark.parametrize("reset, expected", [(snn.reset_value, 0.0), (snn.reset_subtract, 0.5), ("subtract", 0.5)])
def test_lif_box_takes_norse_reset_functions(reset, expected):
    p = snn.LIFBoxParameters(tau_mem_inv=1000.0, reset_method=reset)
    z, s = snn.lif_box_feed_forward_step(torch.tensor([1.5]), snn.LIFBoxFeedForwardState(torch.zeros(1)), p)
    assert z.item() == 1.0 and s.v.item() == pytest.approx(expected)
    layer = snn.LIFBox(p)
    assert layer.p.reset_method in ("value", "subtract")  # the fused kernels run it
    custom = snn.LIFBoxCell(snn.LIFBoxParameters(tau_mem_inv=1000.0, reset_method=lambda z, v, r, t: v * (1 - z) - 2 * z))
    assert custom(torch.tensor([1.5]))[1].v.item() == -2.0


def test_logical():
    x, y = torch.tensor([0.0, 0.0, 1.0, 1.0]), torch.tensor([0.0, 1.0, 0.0, 1.0])
    assert snn.logical_and(x, y).tolist() == [0, 0, 0, 1]
    assert snn.logical_or(x, y).tolist() == [0, 1, 1, 1]
    assert snn.logical_xor(x, y).tolist() == [0, 1, 1, 0]
    from norse_core.functional.logical import muller_c, posedge_detector
    assert muller_c(torch.tensor([0.0, 1.0, 1.0]), torch.tensor([1.0, 0.0, 0.0]), torch.tensor([1.0, 1.0, 0.0])).tolist() == [1, 1, 0]
    assert posedge_detector(torch.tensor([1.0, 1.0, 0.0]), torch.tensor([0.0, 1.0, 1.0])).tolist() == [1, 0, 0]


def test_lift_function_equals_the_layer():
    x = torch.rand(6, 2, 3) * 3
    state = snn.LIFFeedForwardState(torch.zeros(2, 3), torch.zeros(2, 3))
    z, s = snn.lift(snn.lif_feed_forward_step, p=snn.LIFParameters())(x, state=state)
    z_ref, s_ref = snn.LIF(fused=False)(x)
    torch.testing.assert_close(z, z_ref)
    torch.testing.assert_close(s.v, s_ref.v)
    with pytest.raises(TypeError):
        snn.lift(snn.lif_feed_forward_step)(x)  # no state given


def test_lif_integrals_and_sparse_steps():
    from norse_core.functional.lif import (lif_feed_forward_integral, lif_feed_forward_step_sparse, lif_step_integral,
                                           lif_step_sparse)
    x = torch.ones(8, 1)
    z, s = lif_feed_forward_integral(x, snn.LIFFeedForwardState(torch.zeros(1), torch.zeros(1)))
    assert z.shape == (8, 1) and z.sum() == 1 and s.v.item() == pytest.approx(0.7717, abs=1e-4)
    w_in, w_rec = torch.ones(2, 1), torch.zeros(2, 2)
    state = snn.LIFState(torch.zeros(2), torch.zeros(2), torch.zeros(2))
    z, s = lif_step_integral(x, state, w_in, w_rec)
    assert z.shape == (8, 2) and z.sum() == 2
    xs = (torch.rand(3, 4) > 0.5).float()
    ff = snn.LIFFeedForwardState(torch.zeros(3, 4), torch.zeros(3, 4))
    z, s = lif_feed_forward_step_sparse(xs.to_sparse() * 5, ff)
    assert z.is_sparse and torch.equal(z.to_dense(), snn.lif_feed_forward_step(xs * 5, ff)[0])
    z, s = lif_step_sparse(xs.to_sparse(), snn.LIFState(torch.zeros(3, 2).to_sparse(), torch.zeros(3, 2), torch.zeros(3, 2)),
                           torch.ones(2, 4) * 5, w_rec)
    assert z.is_sparse and s.z.is_sparse


def test_current_encoders():
    v = torch.zeros(1)
    p = snn.LIFExParameters()
    z, v1 = snn.lif_ex_current_encoder(torch.ones(1), v, p)
    expected = 0.1 * (1 + p.delta_T * math.exp(-p.v_th / p.delta_T))
    assert z.item() == 0 and v1.item() == pytest.approx(expected)
    pa = snn.LIFAdExParameters()
    a = torch.full((1,), 0.5)
    z, v1, a1 = snn.lif_adex_current_encoder(torch.ones(1), torch.full((1,), 0.2), a, pa)
    drive = pa.delta_T * math.exp((0.2 - pa.v_th) / pa.delta_T)
    assert v1.item() == pytest.approx(0.2 + 0.1 * (-0.2 + drive + 1 - 0.5))
    assert a1.item() == pytest.approx(0.5 + 0.001 * pa.tau_ada_inv * (pa.adaptation_current * 0.2 - 0.5))


def test_ada_lif_step():
    from norse_core.functional.lsnn import ada_lif_step
    p = snn.LSNNParameters(tau_adapt_inv=100.0, beta=0.5)
    state = snn.LSNNState(z=torch.zeros(1), v=torch.full((1,), 0.95), i=torch.zeros(1), b=torch.full((1,), 0.2))
    z, s = ada_lif_step(torch.ones(1), state, torch.full((1, 1), 4.0), torch.zeros(1, 1), p)
    v_d = 0.95 + 0.1 * (-0.95 + 4.0 - 0.2)
    assert z.item() == 1.0
    assert s.v.item() == pytest.approx(v_d - 1.0)
    assert s.b.item() == pytest.approx(0.2 * 0.9 + 0.5)
    assert s.i.item() == pytest.approx(4.0 * 0.8)


def test_multi_compartment_feed_forward_steps():
    g = torch.tensor([[0.0, 10.0], [0.0, 0.0]])
    state = snn.LIFFeedForwardState(torch.tensor([0.5, 0.2]), torch.zeros(2))
    z, s = snn.lif_mc_feed_forward_step(torch.zeros(2), state, g)
    coupled = snn.LIFFeedForwardState(torch.tensor([0.5 + 0.001 * 10 * 0.2, 0.2]), torch.zeros(2))
    torch.testing.assert_close(s.v, snn.lif_feed_forward_step(torch.zeros(2), coupled)[1].v)
    refrac = snn.LIFRefracFeedForwardState(state, torch.zeros(2))
    z, s = snn.lif_mc_refrac_feed_forward_step(torch.zeros(2), refrac, g)
    torch.testing.assert_close(s.lif.v, snn.lif_refrac_feed_forward_step(torch.zeros(2), refrac._replace(lif=coupled))[1].lif.v)


def test_izhikevich_names():
    assert snn.accomodation is snn.accommodation
    from norse_core.functional import izhikevich as izk
    assert izk.tonic_spiking_p == snn.tonic_spiking.p and izk.accomodation_p == snn.accommodation.p
    p, s = snn.tonic_spiking
    made = snn.create_izhikevich_spiking_behavior(p.a, p.b, p.c, p.d, v_rest=-70.0, u_rest=-70.0)
    assert made.p == p and float(made.s.u) == pytest.approx(-14.0)


def test_coba_cell_with_sizes_is_norse_recurrent_cell():
    cell = snn.CobaLIFCell(4, 3)
    assert isinstance(cell, snn.CobaLIFRecurrentCell) and cell.autapses
    z, s = cell(torch.ones(5, 4))
    assert z.shape == (5, 3) and isinstance(s, snn.CobaLIFState)
    assert snn.CobaLIFCell(4, 3, snn.CobaLIFParameters(), 0.002).dt == 0.002
    assert type(snn.CobaLIFCell()) is snn.CobaLIFCell


def test_exp_filter():
    from norse_core.module.exp_filter import ExpFilter
    f = ExpFilter(2, 1, tau_filter_inv=100.0, bias=False, input_weights=torch.ones(1, 2))
    y = f(torch.ones(3, 2))
    a = math.exp(-0.1)
    assert y.flatten().tolist() == pytest.approx([2.0, 2 + 2 * a, 2 + a * (2 + 2 * a)])


def test_stp_state_numbers_broadcast():
    z = torch.tensor([1.0, 0.0])
    out, s = snn.stp_step(z, snn.TsodyksMakramState(u=0.0, x=1.0))
    out_ref, s_ref = snn.stp_step(z)
    assert torch.equal(out, out_ref) and torch.equal(s.x, s_ref.x)
