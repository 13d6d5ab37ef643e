"""Bad input gets a clear error, at construction where possible (issue 13, section 3):
sequences of no time steps, unstable Euler steps, invalid parameter values, and modules in a
SequentialState that return the wrong kind of value."""

from __future__ import annotations

import math
import re

import pytest
import torch

import norse_core as snn

# -- no time steps (T = 0) ------------------------------------------------------------------------
# layer factory (input features 3), output features
LAYERS = {
    "LIF": (lambda: snn.LIF(), 3),
    "LIFBox": (lambda: snn.LIFBox(), 3),
    "IAF": (lambda: snn.IAF(), 3),
    "LI": (lambda: snn.LI(), 3),
    "LIBox": (lambda: snn.LIBox(), 3),
    "LSNN": (lambda: snn.LSNN(), 3),
    "LIFEx": (lambda: snn.LIFEx(), 3),
    "LIFAdEx": (lambda: snn.LIFAdEx(), 3),
    "LIFRefrac": (lambda: snn.LIFRefrac(), 3),
    "LIFAdExRefrac": (lambda: snn.LIFAdExRefrac(), 3),
    "CobaLIF": (lambda: snn.CobaLIF(), 3),
    "Izhikevich": (lambda: snn.Izhikevich(snn.tonic_spiking), 3),
    "LIFRecurrent": (lambda: snn.LIFRecurrent(3, 5), 5),
    "IAFRecurrent": (lambda: snn.IAFRecurrent(3, 5), 5),
    "LSNNRecurrent": (lambda: snn.LSNNRecurrent(3, 5), 5),
    "LIFExRecurrent": (lambda: snn.LIFExRecurrent(3, 5), 5),
    "LIFAdExRecurrent": (lambda: snn.LIFAdExRecurrent(3, 5), 5),
    "LIFRefracRecurrent": (lambda: snn.LIFRefracRecurrent(3, 5), 5),
    "LIFAdExRefracRecurrent": (lambda: snn.LIFAdExRefracRecurrent(3, 5), 5),
    "CobaLIFRecurrent": (lambda: snn.CobaLIFRecurrent(3, 5), 5),
    "IzhikevichRecurrent": (lambda: snn.IzhikevichRecurrent(3, 5, snn.tonic_spiking), 5),
    "LIFMCRecurrent": (lambda: snn.LIFMCRecurrent(3, 5), 5),
    "LIFMCRefracRecurrent": (lambda: snn.LIFMCRefracRecurrent(3, 5), 5),
}


def _leaves(state):
    return [t for t in torch.utils._pytree.tree_leaves(state) if isinstance(t, torch.Tensor)]


def _assert_same_state(got, expected):
    assert type(got) is type(expected)
    for a, b in zip(_leaves(got), _leaves(expected), strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_no_time_steps_give_empty_outputs_and_the_initial_state(name, fused):
    make, features = LAYERS[name]
    layer = make().double()
    layer.fused = fused
    x = torch.zeros(0, 2, 3, dtype=torch.float64)
    out, state = layer(x)
    assert out.shape == (0, 2, features) and out.dtype == torch.float64 and out.device == x.device
    _assert_same_state(state, layer.initial_state(torch.zeros(2, 3, dtype=torch.float64)))
    # a given state comes back as it was: no step has run
    _, first = layer(torch.rand(4, 2, 3, dtype=torch.float64))
    out, again = layer(x, first)
    assert out.shape == (0, 2, features)
    for a, b in zip(_leaves(again), _leaves(first), strict=True):
        assert a is b


def test_no_time_steps_with_recorded_states_stack_no_states():
    out, states = snn.LIF(record_states=True)(torch.zeros(0, 4))
    assert out.shape == (0, 4) and states.v.shape == (0, 4) and states.i.shape == (0, 4)


def test_no_time_steps_still_check_the_input_and_state():
    with pytest.raises(ValueError, match="input has 4 features .* input_size is 3"):
        snn.LIFRecurrent(3, 5)(torch.zeros(0, 2, 4))
    with pytest.raises(ValueError, match=r"state.v has shape \(3,\)"):
        snn.LIF()(torch.zeros(0, 2), snn.LIFFeedForwardState(torch.zeros(3), torch.zeros(3)))


def test_sequential_state_over_layers_with_no_time_steps():
    torch.manual_seed(0)
    net = snn.SequentialState(
        snn.Lift(torch.nn.Linear(3, 4)), snn.LIF(), snn.Lift(snn.LIFCell()), snn.LSNNRecurrent(4, 6),
        torch.nn.Linear(6, 2), snn.LI(),
    )
    out, states = net(torch.zeros(0, 7, 3))
    assert out.shape == (0, 7, 2) and out.dtype == torch.float32
    assert states[0] is None and states[4] is None
    assert states[1].v.shape == (7, 4) and states[2].v.shape == (7, 4) and states[3].z.shape == (7, 6)
    assert torch.all(states[3].b == snn.LSNNParameters().v_th) and states[5].v.shape == (7, 2)
    # and then the same network runs on: the states of no steps are valid starting states
    out, _ = net(torch.rand(5, 7, 3), states)
    assert out.shape == (5, 7, 2)


def test_lift_of_a_foreign_stateful_module_with_no_time_steps_says_why():
    class Counter(torch.nn.Module):
        def forward(self, x, state=None):
            return x, state

    with pytest.raises(ValueError, match=r"\(0, 3\) has no time steps .* Counter"):
        snn.Lift(Counter())(torch.zeros(0, 3))


# -- unstable Euler steps -----------------------------------------------------------------------------
def test_lif_at_a_too_large_dt_is_refused_naming_the_product_and_bound():
    # what the check prevents: 10 Euler steps at dt * tau_mem_inv = 2 diverge
    p = snn.LIFParameters(v_th=float("inf"))
    state = snn.LIFFeedForwardState(torch.zeros(1), torch.zeros(1))
    for _ in range(10):
        _, state = snn.lif_feed_forward_step(torch.ones(1), state, p, dt=0.02)
    assert abs(float(state.v)) > 1e4
    message = (
        "LIF: dt * tau_syn_inv = 0.02 * 200.0 = 4.0 and dt * tau_mem_inv = 0.02 * 100.0 = 2.0 must be < 1 for a "
        "stable Euler step; use a smaller dt (below 0.005) or slower time constants (smaller tau_syn_inv, tau_mem_inv)"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        snn.LIF(dt=0.02)
    with pytest.raises(ValueError, match=re.escape("LIFCell: dt * tau_mem_inv = 0.02 * 100.0 = 2.0 must be < 1")):
        snn.LIFCell(snn.LIFParameters(tau_syn_inv=10.0), dt=0.02)


# constructor taking (p, dt), parameters whose named time constant is too fast at dt = 0.001
UNSTABLE = [
    (snn.LIFCell, snn.LIFParameters(tau_mem_inv=1000.0), "tau_mem_inv"),
    (snn.LIF, snn.LIFParameters(tau_syn_inv=1500.0), "tau_syn_inv"),
    (lambda p, dt: snn.LIFRecurrent(2, 3, p, dt=dt), snn.LIFParameters(tau_mem_inv=1e4), "tau_mem_inv"),
    (lambda p, dt: snn.LIFRecurrentCell(2, 3, p, dt=dt), snn.LIFParameters(tau_syn_inv=1e4), "tau_syn_inv"),
    (snn.LICell, snn.LIParameters(tau_syn_inv=2000.0), "tau_syn_inv"),
    (lambda p, dt: snn.LILinearCell(2, 3, p, dt=dt), snn.LIParameters(tau_mem_inv=2000.0), "tau_mem_inv"),
    (snn.LIBox, snn.LIBoxParameters(tau_mem_inv=1001.0), "tau_mem_inv"),
    (snn.LIFBoxCell, snn.LIFBoxParameters(tau_mem_inv=1001.0), "tau_mem_inv"),
    (snn.LSNN, snn.LSNNParameters(tau_adapt_inv=1000.0), "tau_adapt_inv"),
    (lambda p, dt: snn.LSNNRecurrent(2, 3, p, dt=dt), snn.LSNNParameters(tau_adapt_inv=1000.0), "tau_adapt_inv"),
    (snn.LIFEx, snn.LIFExParameters(tau_mem_inv=1000.0), "tau_mem_inv"),
    (snn.LIFAdEx, snn.LIFAdExParameters(tau_ada_inv=1000.0), "tau_ada_inv"),
    (lambda p, dt: snn.LIFAdExRecurrentCell(2, 3, p, dt=dt), snn.LIFAdExParameters(tau_ada_inv=1e3), "tau_ada_inv"),
    (snn.CobaLIF, snn.CobaLIFParameters(tau_syn_exc_inv=1000.0), "tau_syn_exc_inv"),
    (lambda p, dt: snn.CobaLIFRecurrent(2, 3, p, dt=dt), snn.CobaLIFParameters(tau_syn_inh_inv=1e3), "tau_syn_inh_inv"),
    (snn.LIFRefracCell, snn.LIFRefracParameters(snn.LIFParameters(tau_mem_inv=1000.0)), "lif.tau_mem_inv"),
    (lambda p, dt: snn.LIFRefracRecurrent(2, 3, p, dt=dt), snn.LIFRefracParameters(snn.LIFParameters(tau_syn_inv=1e3)),
     "lif.tau_syn_inv"),
    (snn.LIFAdExRefrac, snn.LIFAdExRefracParameters(snn.LIFAdExParameters(tau_ada_inv=1e3)), "lif_adex.tau_ada_inv"),
    (lambda p, dt: snn.LIFMCRecurrent(2, 3, p, dt=dt), snn.LIFParameters(tau_mem_inv=1000.0), "tau_mem_inv"),
    (lambda p, dt: snn.LIFMCRefracRecurrentCell(2, 3, p, dt=dt), snn.LIFRefracParameters(snn.LIFParameters(tau_mem_inv=1e3)),
     "lif.tau_mem_inv"),
    (snn.Izhikevich, snn.IzhikevichSpikingBehavior(snn.tonic_spiking.p._replace(tau_inv=1000.0), snn.tonic_spiking.s),
     "p.tau_inv"),
    (lambda p, dt: snn.IzhikevichRecurrentCell(2, 3, p, dt=dt),
     snn.IzhikevichSpikingBehavior(snn.tonic_spiking.p._replace(tau_inv=1000.0), snn.tonic_spiking.s), "p.tau_inv"),
    (lambda p, dt: snn.ConstantCurrentLIFEncoder(10, p, dt), snn.LIFParameters(tau_mem_inv=1000.0), "tau_mem_inv"),
]


@pytest.mark.parametrize("make,p,path", UNSTABLE, ids=[f"{i}-{case[2]}" for i, case in enumerate(UNSTABLE)])
def test_every_model_refuses_a_time_constant_too_fast_for_dt(make, p, path):
    with pytest.raises(ValueError, match=rf"dt \* {re.escape(path)} = 0\.001 \* [0-9.e+]+ = [0-9.]+ must be <=? 1 for a stable Euler step"):
        make(p, 0.001)
    rate = p
    for part in path.split("."):
        rate = getattr(rate, part)
    make(p, 0.9 / rate)  # a smaller dt is fine


def test_dt_times_tau_inv_of_one():
    # one full decay per step is a model of its own for a box neuron: v' = v_leak + x
    out, _ = snn.LIBox(dt=0.01)(torch.tensor([[1.0], [3.0], [2.0]]))
    assert out.flatten().tolist() == [1.0, 3.0, 2.0]
    snn.LIFBoxCell(dt=0.01)
    # ...and for plasticity traces (tests/test_stp.py recovers resources fully within one step)
    snn.check_parameters(snn.TsodyksMakramParameters(tau_d_inv=1000.0), 0.001)
    # but not for the LIF neuron: it is the bound of its Euler step
    with pytest.raises(ValueError, match=re.escape("dt * tau_syn_inv = 0.005 * 200.0 = 1.0 must be < 1")):
        snn.LIF(dt=0.005)
    with pytest.raises(ValueError, match=re.escape("dt * tau_d_inv = 0.001 * 2000.0 = 2.0 must be <= 1")):
        snn.check_parameters(snn.TsodyksMakramParameters(tau_d_inv=2000.0), 0.001)


def test_per_neuron_time_constants_are_checked_at_their_largest():
    p = snn.LIFParameters(tau_mem_inv=torch.tensor([50.0, 100.0, 1200.0, 80.0]))
    with pytest.raises(ValueError, match=re.escape("dt * tau_mem_inv = 0.001 * 1200.0 (the largest of its 4 values) = 1.2")):
        snn.LIF(p)
    with pytest.raises(ValueError, match=re.escape("dt * tau_mem_inv = 0.001 * 1200.0 (the largest of its 3 values)")):
        snn.LIF(snn.LIFParameters(tau_mem_inv=torch.tensor([100.0, 1200.0, 50.0])), trainable=("tau_mem_inv",))
    snn.LIF(snn.LIFParameters(tau_mem_inv=torch.tensor([50.0, 100.0, 900.0])))


# -- invalid values ---------------------------------------------------------------------------------
BAD_VALUES = [
    (lambda: snn.LIF(snn.LIFParameters(tau_mem_inv=-100.0)),
     "LIF: tau_mem_inv must be finite and > 0 (an inverse time constant, in 1/s), got -100.0"),
    (lambda: snn.LIFCell(snn.LIFParameters(tau_syn_inv=0.0)), "LIFCell: tau_syn_inv must be finite and > 0"),
    (lambda: snn.LI(snn.LIParameters(tau_mem_inv=float("inf"))), "LI: tau_mem_inv must be finite and > 0 (an inverse time constant, in 1/s), got inf"),
    (lambda: snn.LSNNRecurrentCell(2, 3, snn.LSNNParameters(tau_adapt_inv=float("nan"))), "LSNNRecurrentCell: tau_adapt_inv must be finite and > 0 (an inverse time constant, in 1/s), got nan"),
    (lambda: snn.LIF(snn.LIFParameters(tau_mem_inv=torch.tensor([100.0, -1.0]))),
     "LIF: tau_mem_inv must be finite and > 0 (an inverse time constant, in 1/s), got a tensor of shape (2,) with values in [-1.0, 100.0]"),
    (lambda: snn.LIF(snn.LIFParameters(alpha=0.0)), "LIF: alpha must be finite and > 0, got 0.0"),
    (lambda: snn.IAF(snn.IAFParameters(alpha=-3.0)), "IAF: alpha must be finite and > 0, got -3.0"),
    (lambda: snn.LIFBox(snn.LIFBoxParameters(alpha=float("nan"))), "LIFBox: alpha must be finite and > 0, got nan"),
    (lambda: snn.LIF(snn.LIFParameters(v_th=float("nan"))), "LIF: v_th must be a number (not NaN), got nan"),
    (lambda: snn.CobaLIF(snn.CobaLIFParameters(v_thresh=float("nan"))), "CobaLIF: v_thresh must be a number (not NaN), got nan"),
    (lambda: snn.LIF(snn.LIFParameters(v_th=torch.tensor([1.0, float("nan"), 0.5]))),
     "LIF: v_th must be a number (not NaN), got a tensor of shape (3,) with values in [0.5, 1.0] and 1 NaN"),
    (lambda: snn.LSNN(snn.LSNNParameters(beta=float("nan"))), "LSNN: beta must be a number (not NaN), got nan"),
    (lambda: snn.CobaLIFCell(snn.CobaLIFParameters(c_m_inv=-5.0)), "CobaLIFCell: c_m_inv must be finite and > 0, got -5.0"),
    (lambda: snn.LIFEx(snn.LIFExParameters(delta_T=0.0)), "LIFEx: delta_T must be finite and > 0, got 0.0"),
    (lambda: snn.LIFRefrac(snn.LIFRefracParameters(rho_reset=-1.0)), "LIFRefrac: rho_reset must be finite and >= 0 (a number of steps), got -1.0"),
    (lambda: snn.LIFRefracRecurrent(2, 3, snn.LIFRefracParameters(snn.LIFParameters(v_th=float("nan")))),
     "LIFRefracRecurrent: lif.v_th must be a number (not NaN), got nan"),
    (lambda: snn.Izhikevich(snn.IzhikevichSpikingBehavior(snn.tonic_spiking.p._replace(tau_inv=-250.0), snn.tonic_spiking.s)),
     "Izhikevich: p.tau_inv must be finite and > 0"),
    (lambda: snn.IzhikevichCell(snn.IzhikevichSpikingBehavior(snn.tonic_spiking.p, snn.IzhikevichState(float("nan"), 0.0))),
     "IzhikevichCell: s.v must be a number (not NaN), got nan"),
    (lambda: snn.LIFBox(snn.LIFBoxParameters(reset_method="subtrac")), "LIFBox: unknown reset_method 'subtrac'; valid: value, subtract"),
    (lambda: snn.LIF(snn.LIFParameters(reset_method="zero")),
     "LIF: unknown reset_method 'zero'; valid: value, subtract or a function (z, v, v_reset, v_th) -> v"),
    (lambda: snn.CobaLIFCell(snn.CobaLIFParameters(reset_method=None)), "CobaLIFCell: unknown reset_method None; valid: value, subtract"),
    (lambda: snn.LIFAdExRefracRecurrent(2, 3, snn.LIFAdExRefracParameters(snn.LIFAdExParameters(reset_method="Subtract"))),
     "LIFAdExRefracRecurrent: unknown lif_adex.reset_method 'Subtract'; valid: value, subtract"),
    (lambda: snn.LIFAdExRefracRecurrentCell(2, 3, snn.LIFAdExRefracParameters(snn.LIFAdExParameters(method="supr"))),
     "LIFAdExRefracRecurrentCell: lif_adex.method: unknown threshold method 'supr'; valid methods are: "),
    (lambda: snn.ConstantCurrentLIFEncoder(5, snn.LIFParameters(method="supr")),
     "ConstantCurrentLIFEncoder: unknown threshold method 'supr'; valid methods are: "),
    (lambda: snn.SpikeLatencyLIFEncoder(5, snn.LIFParameters(tau_mem_inv=-1.0)), "SpikeLatencyLIFEncoder: tau_mem_inv must be finite and > 0"),
    (lambda: snn.LIF(snn.LIFParameters(tau_mem_inv=-1.0), trainable=("tau_mem_inv",)), "LIF: tau_mem_inv must be finite and > 0"),
]


@pytest.mark.parametrize("make,message", BAD_VALUES, ids=[m.split(",")[0][:60] for _, m in BAD_VALUES])
def test_bad_parameter_values_are_refused_at_construction(make, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make()


def test_heaviside_ignores_alpha_so_zero_is_allowed():
    # conf/surrogate/heaviside.yaml sets alpha: 0.0 (no gradient through spikes)
    snn.LIF(snn.LIFParameters(method="heaviside", alpha=0.0))
    with pytest.raises(ValueError, match="alpha must be finite \\(method='heaviside' ignores it\\), got nan"):
        snn.LIF(snn.LIFParameters(method="heaviside", alpha=float("nan")))
    with pytest.raises(ValueError, match="alpha must be finite and > 0, got 0.0"):
        snn.LIF(snn.LIFParameters(method="triangle", alpha=0.0))


def test_bad_types_are_named():
    with pytest.raises(TypeError, match=re.escape("LIF: tau_mem_inv must be a number or a tensor, finite and > 0 "
                                                  "(an inverse time constant, in 1/s); got 'fast'")):
        snn.LIF(snn.LIFParameters(tau_mem_inv="fast"))


def test_an_infinite_threshold_is_allowed_and_never_spikes():
    out, _ = snn.LIF(snn.LIFParameters(v_th=float("inf")))(torch.full((20, 3), 50.0))
    assert out.sum() == 0


def test_an_encoder_method_typo_is_found_at_construction():
    # the check in ConstantCurrentLIFEncoder runs at construction: no input is needed to find it
    with pytest.raises(ValueError, match="unknown threshold method 'supr'"):
        snn.SpikeLatencyLIFEncoder(4, snn.LIFParameters(method="supr"))


def test_replacing_p_is_checked_but_the_forward_pass_is_not():
    layer = snn.LIF()
    with pytest.raises(ValueError, match="LIF: alpha must be finite and > 0, got -1.0"):
        layer.p = snn.LIFParameters(alpha=-1.0)
    with pytest.raises(ValueError, match=re.escape("LIF: dt * tau_mem_inv = 0.001 * 5000.0 = 5.0")):
        layer.p = snn.LIFParameters(tau_mem_inv=5000.0)
    with pytest.raises(TypeError, match="LIF: p must be a LIFParameters, got LIParameters"):
        layer.p = snn.LIParameters()
    assert layer.p == snn.LIFParameters()
    layer.p = snn.LIFParameters(v_th=0.5)
    assert layer.p.v_th == 0.5
    # a trainable parameter is checked at its initial value only: training may move it anywhere
    trained = snn.LIF(trainable=("tau_mem_inv",))
    with torch.no_grad():
        trained.p_tau_mem_inv.fill_(-10.0)
    out, _ = trained(torch.ones(5, 2))
    assert out.shape == (5, 2)


def test_check_parameters_in_functional():
    snn.check_parameters(snn.LIFParameters(), 0.001)
    snn.check_parameters(snn.LIFRefracParameters(), 0.001)
    with pytest.raises(ValueError, match=r"^dt \* lif\.tau_mem_inv = 0\.002 \* 600\.0 = 1\.2 must be < 1"):
        snn.check_parameters(snn.LIFRefracParameters(snn.LIFParameters(tau_mem_inv=600.0)), 0.002)
    with pytest.raises(ValueError, match="^LSNN: alpha must be"):
        snn.check_parameters(snn.LSNNParameters(alpha=0.0), 0.001, name="LSNN")
    with pytest.raises(ValueError, match="dt must be a positive float, got 0"):
        snn.check_parameters(snn.LIFParameters(), 0)
    assert math.isclose(snn.LIFParameters().tau_mem_inv, 100.0)  # parameters are not changed


def test_every_model_config_and_preset_passes_the_checks():
    for behavior in snn.IZHIKEVICH_BEHAVIORS.values():
        snn.Izhikevich(behavior)
    for params in [snn.LIFParameters(), snn.LIParameters(), snn.LIFBoxParameters(), snn.LIBoxParameters(),
                   snn.IAFParameters(), snn.LSNNParameters(), snn.LIFExParameters(), snn.LIFAdExParameters(),
                   snn.CobaLIFParameters(), snn.LIFRefracParameters(), snn.LIFAdExRefracParameters(),
                   snn.STDPParameters(), snn.TsodyksMakramParameters()]:
        snn.check_parameters(params, 0.001)


# -- SequentialState: what a child returns --------------------------------------------------------------
class ReturnsPair(torch.nn.Module):
    """A user's module returning (output, extra) without a ``state`` argument."""

    def forward(self, x):
        return x * 2, x.sum()


class StatefulReturnsTensor(torch.nn.Module):
    def forward(self, x, state=None):
        return x


def test_a_stateless_child_returning_a_tuple_is_named():
    net = snn.SequentialState(torch.nn.Linear(3, 4), ReturnsPair(), snn.LIFCell())
    message = ("SequentialState: module 1 (ReturnsPair) returned a tuple of 2 values (Tensor, Tensor); it has no "
               "`state` argument in forward, so it is stateless and must return a tensor")
    with pytest.raises(TypeError, match=re.escape(message)):
        net(torch.ones(2, 3))
    with pytest.raises(TypeError, match=r"module 0 \(ReturnsPair\).*add a `state` argument .* `stateful = True`"):
        snn.SequentialState(ReturnsPair())(torch.ones(2, 3))


def test_a_stateful_child_must_return_output_and_state():
    net = snn.SequentialState(StatefulReturnsTensor(), snn.LIFCell())
    with pytest.raises(TypeError, match=re.escape(
        "SequentialState: module 0 (StatefulReturnsTensor) returned a Tensor; it takes a `state` argument, "
        "so it must return a pair (output, state)"
    )):
        net(torch.ones(2, 3))  # a (2, 3) tensor would otherwise unpack into two rows


def test_a_declared_stateful_child_returning_a_pair_still_works():
    class Declared(ReturnsPair):
        stateful = True

        def forward(self, x, hidden=None):
            return x * 2, (hidden or 0) + 1

    out, states = snn.SequentialState(Declared(), snn.LIFCell())(torch.ones(2, 3))
    assert out.shape == (2, 3) and states[0] == 1


# -- NIR import ---------------------------------------------------------------------------------------
def test_nir_graph_with_time_constants_shorter_than_dt_names_the_node():
    nir = pytest.importorskip("nir")
    import numpy as np

    from norse_core.nir import NIRConversionError

    node = nir.CubaLIF(tau_syn=np.full(2, 0.0005), tau_mem=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2),
                       v_threshold=np.ones(2), v_reset=np.zeros(2), w_in=np.ones(2))
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(np.array([2])), "hidden": node, "output": nir.Output(np.array([2]))},
        edges=[("input", "hidden"), ("hidden", "output")],
    )
    with pytest.raises(NIRConversionError, match=re.escape(
        "from_nir: node 'hidden' (CubaLIF): LIFCell: dt * tau_syn_inv = 0.001 * 2000.0 = 2.0 must be < 1"
    )) as info:
        snn.from_nir(graph, dt=0.001)
    assert "time constants must be longer than dt = 0.001" in str(info.value)
    snn.from_nir(graph, dt=0.0001)  # at a step shorter than the time constants it imports


@pytest.mark.parametrize("overrides", [[f"model={m}"] for m in ("lif", "lifbox", "iaf", "lsnn", "lif_ex", "lif_adex",
                                                                 "lif_refrac", "coba_lif", "izhikevich")]
                         + [["model=lif", f"surrogate={s}"] for s in ("heaviside", "triangle", "logistic", "atan")])
def test_the_task_configs_pass_the_checks(overrides):
    hydra_utils = pytest.importorskip("hydra.utils")
    from tests.helpers import compose_task

    cfg = compose_task("mnist", overrides)
    p = hydra_utils.instantiate(cfg.model.p)
    hydra_utils.get_class(cfg.model.layer)(p, dt=cfg.net.dt)
    snn.LI(snn.LIParameters(**cfg.net.readout), dt=cfg.net.dt)
