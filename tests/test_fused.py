"""Fused multi-step loops agree with the step-by-step reference loop (``fused=False``).

Every layer with a ``fused_loop`` and every registered surrogate, in float64, each comparison
proving (``fused.record_kernels``) that the fused kernel of the expected backend ran and the
reference did not. Feed-forward layers run the same elementwise operations in the same order
as their step loop, so spikes and final states are bitwise equal. Recurrent layers compute the
input projection ``linear(x, W_in)`` once over all T*B rows while the step loop computes it per
step over B rows: BLAS (MKL) groups those sums differently per CPU and code path, so their
states may differ in the last bits; they are compared within ``RECURRENT_STATE_TOL`` (float64
rounding is ~1e-16 relative, a wrong term would be off by far more), spikes stay identical.
Gradients w.r.t. the input, the initial state (and the weights of recurrent layers) are equal
within ``GRAD_RTOL`` relative to their largest entry. Then: fallbacks (trainable parameters,
record_states), user surrogates, the C++ loops (skipped when they cannot be built, except
under ``CI=true``, where a failed build fails), the Triton kernels under the Triton interpreter
(skipped when that does not run), and the build-failure path.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import NamedTuple

import pytest
import torch
from torch.utils._pytree import tree_flatten, tree_map

import norse_core as snn
from norse_core import fused
from norse_core.functional.threshold import register_surrogate, surrogate_methods
from norse_core.functional.lif import LIF_DYNAMICS
from norse_core.functional.lsnn import LSNN_DYNAMICS
from norse_core.fused import cpp, loops, portable, record_kernels, use_backend
from norse_core.utils import native
from norse_core.functional.dynamics import Dynamics
from norse_core.fused._common import forced_backend
from norse_core.module.snn import SNN, SNNCell

REPO = Path(__file__).resolve().parents[1]
THRESHOLD = importlib.import_module("norse_core.functional.threshold")  # the module (the package re-exports a function)
METHODS = surrogate_methods()
NATIVE = sorted(fused.NATIVE_METHODS)
F64 = torch.float64
#: float64 states of recurrent layers: the two paths group the input projection's sums
#: differently (module docstring); rounding differences are ~1e-16 relative.
RECURRENT_STATE_TOL = 1e-12
#: float64 gradients, relative to the largest entry of each gradient.
GRAD_RTOL = 1e-9
#: The suffix of the kernel class names of each forced backend (``None``: automatic choice).
KERNEL_SUFFIX = {"torch": "Torch", "cpp": "Cpp", "triton": "Triton", None: ""}

# (layer class, parameters, input scale, input offset): inputs chosen so that neurons spike
# often, stop, and cross the threshold again and again.
FEED_FORWARD = {
    "lif": (snn.LIF, lambda m: snn.LIFParameters(tau_mem_inv=300.0, v_th=0.6, method=m, alpha=8.0), 3.0, 0.6),
    "lif_box_value": (snn.LIFBox, lambda m: snn.LIFBoxParameters(tau_mem_inv=300.0, v_reset=-0.2, method=m, alpha=8.0), 4.0, 2.0),
    "lif_box_subtract": (
        snn.LIFBox, lambda m: snn.LIFBoxParameters(tau_mem_inv=300.0, method=m, alpha=8.0, reset_method="subtract"), 4.0, 2.0,
    ),
    "iaf": (snn.IAF, lambda m: snn.IAFParameters(v_th=1.0, v_reset=0.1, method=m, alpha=8.0), 0.5, 0.15),
    "lsnn": (
        snn.LSNN, lambda m: snn.LSNNParameters(tau_mem_inv=300.0, tau_adapt_inv=50.0, beta=0.3, v_th=0.6, method=m, alpha=8.0),
        3.0, 0.8,
    ),
    "lif_refrac": (
        snn.LIFRefrac,
        lambda m: snn.LIFRefracParameters(snn.LIFParameters(tau_mem_inv=300.0, v_th=0.6, method=m, alpha=8.0), rho_reset=3.0),
        3.0, 0.9,
    ),
    "lif_adex_refrac": (
        snn.LIFAdExRefrac,
        lambda m: snn.LIFAdExRefracParameters(FEED_FORWARD["lif_adex"][1](m), rho_reset=3.0),
        3.0, 0.9,
    ),
    "lif_ex": (snn.LIFEx, lambda m: snn.LIFExParameters(tau_mem_inv=300.0, delta_T=0.3, v_th=0.6, method=m, alpha=8.0), 3.0, 0.6),
    "lif_adex": (
        snn.LIFAdEx,
        lambda m: snn.LIFAdExParameters(tau_mem_inv=300.0, tau_ada_inv=50.0, adaptation_current=0.5, adaptation_spike=0.2,
                                        delta_T=0.3, v_th=0.6, method=m, alpha=8.0),
        3.0, 0.8,
    ),
}


def _subtract(make_p, **changes):
    """``make_p`` with ``reset_method="subtract"`` and ``changes`` (a refractory model's in its
    inner parameters)."""

    def make(method):
        p = make_p(method)
        if "reset_method" in p._fields:
            return p._replace(reset_method="subtract", **changes)
        return p._replace(**{p._fields[0]: p[0]._replace(reset_method="subtract", **changes)})

    return make


#: The spiking models that also run with the subtract reset (``<model>_subtract``). The
#: exponential ones get a slower membrane, a softer upswing and a weaker input (scale, offset):
#: where one step overshoots the threshold by more than ``v_th``, the voltage left after the
#: subtraction is still in the exponential's runaway and diverges (docs/models.md).
SUBTRACT_MODELS = ("lif", "iaf", "lsnn", "lif_ex", "lif_adex", "lif_refrac", "lif_adex_refrac")
EXPONENTIAL_SUBTRACT = (dict(tau_mem_inv=100.0, delta_T=1.0), 0.6, 0.25)
FEED_FORWARD.update({
    f"{m}_subtract": (FEED_FORWARD[m][0], _subtract(FEED_FORWARD[m][1], **EXPONENTIAL_SUBTRACT[0]), *EXPONENTIAL_SUBTRACT[1:])
    if m.startswith(("lif_ex", "lif_adex")) else (FEED_FORWARD[m][0], _subtract(FEED_FORWARD[m][1]), *FEED_FORWARD[m][2:])
    for m in SUBTRACT_MODELS
})
LEAKY = {
    "li": (snn.LI, snn.LIParameters(tau_mem_inv=150.0, v_leak=0.2)),
    "li_box": (snn.LIBox, snn.LIBoxParameters(tau_mem_inv=150.0, v_leak=-0.1)),
}
RECURRENT = {
    "lif_recurrent": (snn.LIFRecurrent, lambda m: snn.LIFParameters(tau_mem_inv=300.0, v_th=0.6, method=m, alpha=8.0)),
    "iaf_recurrent": (snn.IAFRecurrent, lambda m: snn.IAFParameters(v_th=1.0, method=m, alpha=8.0)),
    "lsnn_recurrent": (
        snn.LSNNRecurrent, lambda m: snn.LSNNParameters(tau_mem_inv=300.0, tau_adapt_inv=50.0, beta=0.3, v_th=0.6, method=m, alpha=8.0),
    ),
    "lif_ex_recurrent": (snn.LIFExRecurrent, lambda m: FEED_FORWARD["lif_ex"][1](m)),
    "lif_adex_recurrent": (snn.LIFAdExRecurrent, lambda m: FEED_FORWARD["lif_adex"][1](m)),
    "lif_refrac_recurrent": (snn.LIFRefracRecurrent, lambda m: FEED_FORWARD["lif_refrac"][1](m)),
    "lif_adex_refrac_recurrent": (snn.LIFAdExRefracRecurrent, lambda m: FEED_FORWARD["lif_adex_refrac"][1](m)),
}
RECURRENT.update({
    f"{m}_subtract": (cls, _subtract(make_p, **(EXPONENTIAL_SUBTRACT[0] if m.startswith(("lif_ex", "lif_adex")) else {})))
    for m, (cls, make_p) in list(RECURRENT.items())
})


def _random_state(layer, x, seed):
    """An initial state with random values that requires grad (nested states too)."""
    g = torch.Generator().manual_seed(seed)

    def randomise(state):
        fields = []
        for name, value in zip(state._fields, state):
            if isinstance(value, tuple):
                fields.append(randomise(value))
            elif name == "z":
                fields.append((torch.rand(value.shape, generator=g, dtype=value.dtype) > 0.5).to(value.dtype).requires_grad_())
            elif name == "rho":  # refractory countdowns of 0, 1 and 2 steps
                fields.append(torch.randint(0, 3, value.shape, generator=g).to(value.dtype).requires_grad_())
            else:
                fields.append((value + 0.3 * torch.rand(value.shape, generator=g, dtype=value.dtype)).requires_grad_())
        return type(state)(*fields)

    return randomise(layer.initial_state(x[0]))


def _leaves(state):
    return tree_flatten(state)[0]


def _run(layer, x, state, seed=0):
    """Outputs, final state and gradients of a loss touching outputs and every final state."""
    torch.manual_seed(seed)  # the stochastic ``logistic`` forward samples from the global RNG
    out, final = layer(x, state)
    g = torch.Generator().manual_seed(123)
    loss = (out * torch.randn(out.shape, generator=g, dtype=out.dtype)).sum()
    for value in _leaves(final):
        loss = loss + (value * torch.randn(value.shape, generator=g, dtype=value.dtype)).sum()
    params = [p for p in layer.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, [x, *_leaves(state), *params], allow_unused=True)
    return out.detach(), [v.detach() for v in _leaves(final)], grads


def assert_grads_close(fused_grads, ref_grads, rtol=GRAD_RTOL):
    for got, want in zip(fused_grads, ref_grads):
        if want is None:
            assert got is None or torch.count_nonzero(got) == 0
            continue
        assert got is not None
        scale = want.abs().max().clamp_min(1e-300)
        torch.testing.assert_close(got, want, rtol=rtol, atol=rtol * float(scale))


def assert_fused_ran(calls, expect_fused=True):
    """``calls`` (from ``record_kernels``) holds only kernels of the forced backend, at least one;
    or none at all when the layer must fall back to the step loop."""
    if not expect_fused:
        assert calls == [], f"expected the step-by-step loop, but fused kernels ran: {calls}"
        return
    suffix = KERNEL_SUFFIX[forced_backend()]
    assert calls, "the fused loop did not run (silent fallback to the step-by-step loop)"
    assert all(name.endswith(suffix) for name in calls), f"expected {suffix or 'any'} kernels, ran {calls}"


def _compare(make_layer, x, seed=0, exact_states=True, expect_fused=True):
    """Reference (``fused=False``) vs fused layer: identical outputs, final states bitwise equal
    (``exact_states``) or within ``RECURRENT_STATE_TOL``, gradients within ``GRAD_RTOL``."""
    ref_layer, fused_layer = make_layer(False), make_layer(True)
    fused_layer.load_state_dict(ref_layer.state_dict())
    state = _random_state(ref_layer, x, seed)
    with record_kernels() as ref_calls:
        out_r, final_r, grads_r = _run(ref_layer, x, state, seed)
    with record_kernels() as fused_calls:
        out_f, final_f, grads_f = _run(fused_layer, x, state, seed)
    assert ref_calls == []
    assert_fused_ran(fused_calls, expect_fused)
    assert torch.equal(out_f, out_r)
    assert len(final_f) == len(final_r)
    for a, b in zip(final_f, final_r):
        if exact_states:
            assert torch.equal(a, b)
        else:
            torch.testing.assert_close(a, b, rtol=RECURRENT_STATE_TOL, atol=RECURRENT_STATE_TOL)
    assert_grads_close(grads_f, grads_r)
    return out_r, grads_r


def _input(shape, scale, offset, seed=0, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g, dtype=dtype) * scale + offset).requires_grad_()


# -- portable kernels vs reference, every surrogate ------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("model", sorted(FEED_FORWARD))
def test_feed_forward_matches_reference_every_surrogate(model, method):
    cls, make_p, scale, offset = FEED_FORWARD[model]
    x = _input((40, 3, 9), scale, offset)
    with use_backend("torch"):
        out, grads = _compare(lambda f: cls(make_p(method), fused=f), x)
    rate = out.mean().item()
    assert 0.05 < rate < 0.9, rate
    crossings = (out[1:] != out[:-1]).sum(0)
    assert crossings.float().mean() >= 4  # neurons switch between spiking and silence repeatedly
    if method != "heaviside":
        assert grads[0].abs().sum() > 0


@pytest.mark.parametrize("model", sorted(LEAKY))
def test_leaky_integrators_match_reference(model):
    cls, p = LEAKY[model]
    x = _input((30, 2, 5), 2.0, 0.3)
    with use_backend("torch"):
        _compare(lambda f: cls(p, fused=f), x)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("model", sorted(RECURRENT))
def test_recurrent_matches_reference_every_surrogate(model, method):
    cls, make_p = RECURRENT[model]

    def make(f):
        torch.manual_seed(5)
        return cls(4, 7, make_p(method), fused=f).to(F64)

    x = _input((25, 3, 4), 2.0, 0.5)
    with use_backend("torch"):
        out, grads = _compare(make, x, exact_states=False)
    assert 0.02 < out.mean().item() < 0.95
    if method != "heaviside":
        assert grads[-1].abs().sum() > 0  # recurrent weights learn


def test_recurrent_with_autapses_and_no_batch_dims():
    torch.manual_seed(3)
    x = _input((12, 4), 2.0, 0.5)

    def make(f):
        torch.manual_seed(5)
        return snn.LIFRecurrent(4, 6, snn.LIFParameters(tau_mem_inv=300.0, v_th=0.6), autapses=True, fused=f).to(F64)

    _compare(make, x, exact_states=False)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_other_dtypes_identical_forward(dtype):
    x = (torch.randn(20, 4, 6) * 3 + 0.6).to(dtype)
    p = snn.LIFParameters(tau_mem_inv=300.0, v_th=0.6)
    with use_backend("torch"), record_kernels() as calls:
        out_f, state_f = snn.LIF(p)(x)
    assert calls == ["LIFTorch"]
    out_r, state_r = snn.LIF(p, fused=False)(x)
    assert out_f.dtype == dtype and torch.equal(out_f, out_r)
    assert all(torch.equal(a, b) for a, b in zip(state_f, state_r))


def test_per_neuron_tensor_parameters_are_fused():
    p = snn.LIFParameters(v_th=torch.tensor([0.3, 0.6, 1.0], dtype=F64), tau_mem_inv=torch.full((3,), 300.0, dtype=F64))
    x = _input((30, 2, 3), 2.0, 0.5)
    assert snn.LIF.fused_loop(x, snn.LIF(p).initial_state(x[0]), p, 0.001) is not NotImplemented
    with use_backend("torch"):
        _compare(lambda f: snn.LIF(p, fused=f), x)


def test_no_grad_forward_saves_nothing_and_matches():
    x = torch.randn(30, 2, 5) * 3 + 0.6
    with torch.no_grad(), use_backend("torch"), record_kernels() as calls:  # whether or not C++ is loaded
        out_f, _ = snn.LSNN(snn.LSNNParameters(v_th=0.6))(x)
    assert calls == ["LSNNTorch"]
    out_r, _ = snn.LSNN(snn.LSNNParameters(v_th=0.6), fused=False)(x)
    assert torch.equal(out_f, out_r)


def test_fused_is_one_autograd_node():
    x = _input((50, 2, 3), 2.0, 0.5)
    with use_backend("torch"):  # the C++ loops' node: test_cpp_backward_is_not_differentiable
        out, state = snn.LIF()(x)
    assert type(out.grad_fn).__name__ == "FusedFunctionBackward"
    assert out.grad_fn is state.v.grad_fn


def test_layer_plan_reused_until_its_signature_changes(monkeypatch):
    """A layer's fused calls from the initial state with the same signature (input shape, dtype,
    grad mode, parameters, dt, backend...) choose the kernel once (the layer's plan); outputs,
    states and gradients equal the step loop's on every call, and any change of the signature
    (or of a trainable parameter's value) shows in the result."""
    from norse_core.module.snn import _PLANS

    chosen = []
    real = loops.select_kernel
    monkeypatch.setattr(loops, "select_kernel", lambda *args: chosen.append(args[0]) or real(*args))
    p = snn.LIFParameters(tau_mem_inv=300.0, v_leak=0.1, v_th=0.6, method="super", alpha=8.0)
    layer, x = snn.LIF(p), _input((30, 2, 5), 3.0, 0.6)

    def check(make_reference, x=x, backend="torch"):
        with use_backend(backend), record_kernels() as calls:
            out, state = layer(x)
        assert calls == ["LIF" + KERNEL_SUFFIX[backend]]
        ref_out, ref_state = make_reference()(x)
        assert torch.equal(out, ref_out) and torch.equal(state.v, ref_state.v) and torch.equal(state.i, ref_state.i)
        if x.requires_grad and torch.is_grad_enabled():
            params = [x, *layer.parameters()]
            got = torch.autograd.grad(out.sum() + state.v.sum(), params)
            want = torch.autograd.grad(ref_out.sum() + ref_state.v.sum(), [x, *make_reference().parameters()])
            for a, b in zip(got, want):
                torch.testing.assert_close(a, b)

    check(lambda: snn.LIF(p, fused=False))
    assert len(chosen) == 2 and _PLANS[layer].kernel is not None  # the plan's choice and the call's
    check(lambda: snn.LIF(p, fused=False))
    check(lambda: snn.LIF(p, fused=False))
    assert len(chosen) == 2  # planned
    x32 = x.detach().float()
    changes = [  # each a new plan (one more choice): what changed, the reference
        (lambda: setattr(layer, "p", p._replace(v_th=0.5)), lambda: snn.LIF(p._replace(v_th=0.5), fused=False), x),
        (lambda: setattr(layer, "dt", 0.0005), lambda: snn.LIF(p._replace(v_th=0.5), dt=0.0005, fused=False), x),
        (lambda: layer.float(), lambda: snn.LIF(p._replace(v_th=0.5), dt=0.0005, fused=False), x32),
    ]
    for change, reference, inputs in changes:
        change()
        before = len(chosen)
        check(reference, inputs)
        check(reference, inputs)
        assert len(chosen) == before + 2
    with torch.no_grad():
        check(lambda: snn.LIF(p._replace(v_th=0.5), dt=0.0005, fused=False), x32)
    if cpp.loaded():
        check(lambda: snn.LIF(p._replace(v_th=0.5), dt=0.0005, fused=False), x32, backend="cpp")
    # a trainable time constant per neuron: the config follows the parameter's value
    plif = snn.LIF(p, trainable=("tau_mem_inv",), trainable_shape=(5,)).to(F64)
    ref = snn.LIF(p, trainable=("tau_mem_inv",), trainable_shape=(5,), fused=False).to(F64)
    for _ in range(3):
        with use_backend("torch"):
            out, _ = plif(x)
        grad = torch.autograd.grad(out.sum(), plif.p_tau_mem_inv)[0]
        ref_out, _ = ref(x)
        torch.testing.assert_close(grad, torch.autograd.grad(ref_out.sum(), ref.p_tau_mem_inv)[0])
        assert torch.equal(out, ref_out) and grad.abs().sum() > 0
        with torch.no_grad():
            for layer_ in (plif, ref):
                layer_.p_tau_mem_inv.sub_(2e4 * grad)  # in place: the same signature, new values


def test_layer_plan_follows_a_fixed_tensor_parameter_changed_in_place():
    """A fixed tensor parameter (not trainable) changed in place between planned calls: the
    config is made again per call, so the outputs follow it (as the step loop's do)."""
    v_th = torch.full((5,), 0.6, dtype=F64)
    p = snn.LIFParameters(tau_mem_inv=300.0, v_th=v_th, method="super", alpha=8.0)
    x = _input((30, 2, 5), 3.0, 0.6)
    layer, reference = snn.LIF(p), snn.LIF(p, fused=False)
    spikes = []
    for threshold in (0.6, 0.6, 0.9):
        v_th.fill_(threshold)
        with use_backend("torch"):
            out, _ = layer(x)
        assert torch.equal(out, reference(x)[0])
        spikes.append(out.sum().item())
    assert spikes[0] == spikes[1] > spikes[2] > 0


def test_layer_plan_none_for_recurrent_layers_and_given_states():
    """Recurrent layers and calls with a state take the full path (no plan) and stay correct."""
    from norse_core.module.snn import _PLANS

    x = _input((20, 2, 3), 2.0, 0.5)
    rec = snn.LIFRecurrent(3, 4).to(F64)
    for _ in range(2):
        with use_backend("torch"), record_kernels() as calls:
            out, _ = rec(x)
        assert calls == ["LIFRecurrentTorch"] and rec not in _PLANS
    layer = snn.LIF()
    state = snn.LIFFeedForwardState(v=torch.full((2, 3), 0.3, dtype=F64), i=torch.zeros(2, 3, dtype=F64))
    out, _ = layer(x, state)
    assert layer not in _PLANS and torch.equal(out, snn.LIF(fused=False)(x, state)[0])


# -- fallbacks -----------------------------------------------------------------------------------

ADEX_TRAINABLE = ("tau_mem_inv", "tau_syn_inv", "tau_ada_inv", "delta_T", "adaptation_current", "adaptation_spike",
                  "v_leak", "v_th", "v_reset")
REFRAC_TRAINABLE = ("lif.tau_mem_inv", "lif.tau_syn_inv", "lif.v_leak", "lif.v_th", "lif.v_reset", "rho_reset")
#: Every neuron parameter each fused model's kernel differentiates (feed-forward and recurrent).
TRAINABLE = {
    "lif": ("tau_mem_inv", "tau_syn_inv", "v_leak", "v_th", "v_reset"),
    "lif_box_value": ("tau_mem_inv", "v_leak", "v_th", "v_reset"),
    "lif_box_subtract": ("tau_mem_inv", "v_leak", "v_th"),
    "iaf": ("v_th", "v_reset"),
    "lsnn": ("tau_mem_inv", "tau_syn_inv", "tau_adapt_inv", "v_leak", "v_th", "v_reset", "beta"),
    "li": ("tau_mem_inv", "tau_syn_inv", "v_leak"),
    "li_box": ("tau_mem_inv", "v_leak"),
    "lif_recurrent": ("tau_mem_inv", "tau_syn_inv", "v_leak", "v_th", "v_reset"),
    "iaf_recurrent": ("v_th", "v_reset"),
    "lsnn_recurrent": ("tau_mem_inv", "tau_syn_inv", "tau_adapt_inv", "v_leak", "v_th", "v_reset", "beta"),
    "lif_ex": ("tau_mem_inv", "tau_syn_inv", "delta_T", "v_leak", "v_th", "v_reset"),
    "lif_refrac": REFRAC_TRAINABLE,
    "lif_refrac_recurrent": REFRAC_TRAINABLE,
    "lif_adex_refrac": tuple("lif_adex." + f for f in ADEX_TRAINABLE) + ("rho_reset",),
    "lif_adex_refrac_recurrent": tuple("lif_adex." + f for f in ADEX_TRAINABLE) + ("rho_reset",),
    "lif_ex_recurrent": ("tau_mem_inv", "tau_syn_inv", "delta_T", "v_leak", "v_th", "v_reset"),
    "lif_adex": ADEX_TRAINABLE,
    "lif_adex_recurrent": ADEX_TRAINABLE,
}
#: The subtract reset does not use ``v_reset`` (no gradient, as in the step loop).
TRAINABLE.update({
    f"{m}_subtract": tuple(f for f in TRAINABLE[m] if not f.endswith("v_reset"))
    for m in (*SUBTRACT_MODELS, *(m for m in RECURRENT if not m.endswith("_subtract")))
})


def _trainable_layer(model, method, shape):
    """A float64 layer of ``model`` whose every neuron parameter is trainable, of ``shape``
    (``None``: one value per layer; ``(n,)``: one per neuron), and its input."""
    fields = TRAINABLE[model]
    if model in RECURRENT:
        cls, make_p = RECURRENT[model]

        def make(f):
            torch.manual_seed(5)
            return cls(4, 7, make_p(method), trainable=fields, trainable_shape=shape and (7,), fused=f).to(F64)

        return make, _input((25, 3, 4), 2.0, 0.5)
    if model in LEAKY:
        cls, p = LEAKY[model]
        return (lambda f: cls(p, trainable=fields, trainable_shape=shape and (5,), fused=f).to(F64)), _input((30, 2, 5), 2.0, 0.3)
    cls, make_p, scale, offset = FEED_FORWARD[model]
    return (
        lambda f: cls(make_p(method), trainable=fields, trainable_shape=shape and (9,), fused=f).to(F64),
        _input((40, 3, 9), scale, offset),
    )


@pytest.mark.parametrize(
    "model,method", [(m, method) for m in sorted(TRAINABLE) for method in (["none"] if m in LEAKY else METHODS)]
)
def test_trainable_parameters_are_fused_every_surrogate(model, method):
    """Per-neuron trainable parameters run the portable kernel; their gradients (summed over
    batch and time in the fused backward) equal the step loop's."""
    make, x = _trainable_layer(model, method, (1,))
    with use_backend("torch"):
        _, grads = _compare(make, x, exact_states=model not in RECURRENT)
    n_params = len(TRAINABLE[model])
    assert len(grads) >= n_params and all(g is not None for g in grads[-n_params:])
    if method != "heaviside":
        assert all(g.abs().sum() > 0 for g in grads[-n_params:])


@pytest.mark.parametrize("model", sorted(TRAINABLE))
def test_trainable_layer_scalars_are_fused(model):
    """One trainable value per layer (a 0-d parameter): its gradient is the sum over neurons.
    The automatic choice runs the C++ loop once it is loaded (by an earlier test), whose
    ``std::exp`` may differ from torch's in the last bit: exponential models' states are then
    compared within ``RECURRENT_STATE_TOL``."""
    make, x = _trainable_layer(model, "super", None)
    layer = make(True)
    assert all(p.dim() == 0 for p in layer.parameters() if p.requires_grad and p.dim() < 2)
    _compare(make, x, exact_states=model not in RECURRENT and not model.startswith(CPP_EXPONENTIAL))


def test_trainable_parameter_not_in_the_kernel_falls_back():
    """A trainable parameter no kernel config holds (the surrogate's alpha) keeps the step
    loop, whose autograd graph gives its gradient."""
    x = _input((30, 2, 3), 2.0, 0.5)

    def make(f):
        return snn.LIF(snn.LIFParameters(v_th=0.6), trainable=("alpha",), fused=f).to(F64)

    layer = make(True)
    assert snn.LIF.fused_loop(x, layer.initial_state(x[0]), layer.p, layer.dt) is NotImplemented
    _compare(make, x, expect_fused=False)
    with torch.no_grad():  # no gradient needed: the fused loop may run
        assert snn.LIF.fused_loop(x, layer.initial_state(x[0]), layer.p, layer.dt) is not NotImplemented


@pytest.mark.parametrize("model", ["lif_recurrent", "lsnn_recurrent"])
def test_recurrent_subtract_runs_the_portable_kernel(model):
    """The recurrent C++ loops reset to a value only: with ``reset_method="subtract"`` the
    selection takes the portable kernel, automatically and under ``use_backend("cpp")``
    (a value reset would run the C++ loop there), and the layer runs it."""
    cls, make_p = RECURRENT[model + "_subtract"]
    cfg = fused.portable.make_config(loops.DYNAMICS[model], make_p("super"), 0.001)
    assert cfg.subtract is True
    x = torch.zeros(10, 4, 7)
    assert loops.select_kernel(model, x, cfg, cfg.sur) is portable.kernel(loops.DYNAMICS[model])
    with use_backend("cpp"):
        assert loops.select_kernel(model, x, cfg, cfg.sur) is portable.kernel(loops.DYNAMICS[model])
        with record_kernels() as calls:
            cls(4, 7, make_p("super"))(torch.rand(10, 4, 4))
    assert calls == [portable.kernel(loops.DYNAMICS[model]).__name__]


def test_reset_functions_become_names_and_run_fused():
    """Norse's ``reset_subtract`` (also inside a refractory model's parameters) becomes its name,
    so the fused kernel runs it; a user's own reset function runs the step loop."""
    layer = snn.LIFRefrac(snn.LIFRefracParameters(snn.LIFParameters(v_th=0.6, reset_method=snn.reset_subtract)))
    assert layer.p.lif.reset_method == "subtract"
    x = _input((30, 2, 5), 2.0, 0.5)
    with use_backend("torch"), record_kernels() as calls:
        out, _ = layer(x)
    assert calls == ["LIFRefracTorch"]
    reference, _ = snn.LIFRefrac(snn.LIFRefracParameters(snn.LIFParameters(v_th=0.6, reset_method="subtract")), fused=False)(x)
    assert torch.equal(out, reference)
    own = snn.LIF(snn.LIFParameters(v_th=0.6, reset_method=lambda z, v, v_reset, v_th: v - 0.5 * z * v_th))
    with record_kernels() as calls:
        out, state = own(x)
    assert calls == [] and out.sum() > 0


def test_record_states_uses_reference_loop(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("fused loop used with record_states")

    monkeypatch.setattr(snn.LIF, "fused_loop", staticmethod(boom))
    out, states = snn.LIF(record_states=True)(torch.ones(9, 1))
    assert states.v.shape == (9, 1)


def test_mismatched_dtypes_fall_back():
    x = torch.randn(5, 3, dtype=F64)
    state = snn.LIFFeedForwardState(torch.zeros(3), torch.zeros(3))
    assert snn.LIF.fused_loop(x, state, snn.LIFParameters(), 0.001) is NotImplemented


def test_user_registered_surrogate_with_own_forward():
    name = "test_fused_shifted"
    register_surrogate(name, lambda x, a: torch.exp(-x.abs() * a), forward=lambda x, a: (x > 0.05).to(x.dtype))
    try:
        sur = fused.Surrogate.of(name, 3.0)
        assert not sur.heaviside_forward and sur.native_id is None
        x = _input((30, 2, 6), 3.0, 0.6)
        _compare(lambda f: snn.LIF(snn.LIFParameters(v_th=0.6, tau_mem_inv=300.0, method=name, alpha=3.0), fused=f), x)
        _compare(lambda f: snn.LSNN(snn.LSNNParameters(v_th=0.6, tau_mem_inv=300.0, method=name, alpha=3.0), fused=f), x)
    finally:
        THRESHOLD._SPIKE_FUNCTIONS.pop(name, None)
        THRESHOLD._DERIVATIVES.pop(name, None)


def test_overwritten_builtin_is_not_native():
    module = THRESHOLD
    original = (module._SPIKE_FUNCTIONS["triangle"], module._DERIVATIVES["triangle"])
    register_surrogate("triangle", lambda x, a: 2 * torch.relu(1 - x.abs()), overwrite=True)
    try:
        assert fused.native_method_id("triangle") is None
        assert fused.native_method_id("super") == 1
    finally:
        module._SPIKE_FUNCTIONS["triangle"], module._DERIVATIVES["triangle"] = original
    assert fused.native_method_id("triangle") == 2


# -- C++ loops ------------------------------------------------------------------------------------

def _unavailable(reason):
    """Skips, except under ``CI=true``: there the C++ loops must build and their tests run."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true, but {reason}: the C++ loops must build in CI", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def cpp_loops():
    if os.environ.get("NORSE_CORE_NO_EXTENSION"):
        _unavailable("NORSE_CORE_NO_EXTENSION is set")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not cpp.build():
            _unavailable(f"the C++ fused loops are unavailable ({cpp.error()})")
    return cpp


#: Every feed-forward model runs the one generic C++ block code (fused.cpp), specialised by its
#: dynamics.
CPP_MODELS = sorted(FEED_FORWARD)
#: Models with the exponential drive: the C++ loops call std::exp, which differs from torch's
#: vectorised exp in the last bit for some arguments (about 5% of float64, 1% of float32 ones),
#: so their states are compared within ``RECURRENT_STATE_TOL`` (spikes stay identical).
CPP_EXPONENTIAL = tuple(m for m in CPP_MODELS if m.startswith(("lif_ex", "lif_adex")))
#: The parameters of ``test_cpp_every_model_and_parameter_kind_matches_reference_float64``:
#: fixed tensors with one value per neuron, every parameter trainable with one value per
#: layer, every parameter trainable with one value per neuron, the time constant alone
#: trainable per neuron (the backward's cheaper gradient set).
CPP_PARAMETER_KINDS = ("per_neuron", "trainable", "trainable_per_neuron", "tau_mem_inv_per_neuron")


def test_cpp_kernels_cover_every_feed_forward_model(cpp_loops):
    """The flag sets fused.cpp compiles are the ones cpp.py expects, every built-in
    feed-forward model has a C++ kernel (named after it), a model declared here does not."""
    assert sorted(cpp._ops().ff_flags()) == sorted(cpp.COMPILED_FLAGS)
    feed_forward = {name: d for name, d in loops.DYNAMICS.items() if not d.recurrent}
    assert {"lif", "lif_box", "iaf", "li", "li_box", "lsnn", "lif_ex", "lif_adex", "lif_refrac", "lif_adex_refrac"} <= set(feed_forward)
    for name, dynamics in feed_forward.items():
        if name != BoxALIF.dynamics.name:
            kernel, reference = cpp.cpp_kernel(dynamics), portable.kernel(dynamics)
            assert kernel is not None and kernel.__name__ == reference.__name__.replace("Torch", "Cpp")
            assert kernel.PARAMS == reference.PARAMS
    assert not cpp.has_kernel(BoxALIF.dynamics) and cpp.cpp_kernel(BoxALIF.dynamics) is None
    assert cpp.cpp_kernel(Dynamics("my_lif", current=True)).__name__ == "MyLIFCpp"  # compiled terms: any name


@pytest.mark.parametrize("method", NATIVE)
@pytest.mark.parametrize("model", CPP_MODELS)
def test_cpp_matches_reference_float64(cpp_loops, model, method):
    cls, make_p, scale, offset = FEED_FORWARD[model]
    x = _input((40, 3, 9), scale, offset)
    name = model.replace("_value", "").replace("_subtract", "")
    assert cpp.kernel(loops.DYNAMICS[name], 0, force=True) is cpp.cpp_kernel(loops.DYNAMICS[name])
    with use_backend("cpp"):
        _compare(lambda f: cls(make_p(method), fused=f), x, exact_states=model not in CPP_EXPONENTIAL)


@pytest.mark.parametrize("model", sorted(LEAKY))
def test_cpp_leaky_matches_reference(cpp_loops, model):
    cls, p = LEAKY[model]
    x = _input((30, 2, 5), 2.0, 0.3)
    with use_backend("cpp"):
        _compare(lambda f: cls(p, fused=f), x)


def _cpp_layer(model, method, kind):
    """``_trainable_layer`` of ``model`` with the parameters ``kind`` (``CPP_PARAMETER_KINDS``);
    values per neuron are spread around the initial value (a mixed-up neuron would show)."""
    shape = None if kind == "trainable" else (1,)
    make, x = _trainable_layer(model, method, shape)
    if kind == "tau_mem_inv_per_neuron":
        cls, make_p = LEAKY[model] if model in LEAKY else FEED_FORWARD[model][:2]
        p = make_p if model in LEAKY else make_p(method)
        field = {"lif_refrac": "lif.tau_mem_inv", "lif_adex_refrac": "lif_adex.tau_mem_inv"}.get(
            model.removesuffix("_subtract"), "tau_mem_inv"
        )
        n = x.shape[-1]
        make = lambda f: cls(p, trainable=(field,), trainable_shape=(n,), fused=f).to(F64)  # noqa: E731

    def spread(f):
        layer = make(f)
        if kind != "trainable":
            with torch.no_grad():
                for parameter in layer.parameters():
                    s = torch.linspace(-1, 1, parameter.shape[-1], dtype=parameter.dtype)
                    parameter.mul_(1 + 0.2 * s).add_(0.05 * s)
        if kind == "per_neuron":
            layer.requires_grad_(False)  # fixed tensor parameters
        return layer

    return spread, x


@pytest.mark.parametrize(
    "model,method,kind",
    [
        (m, method, kind)
        for m in CPP_MODELS + sorted(LEAKY)
        for method in (["none"] if m in LEAKY else NATIVE)
        for kind in CPP_PARAMETER_KINDS
        if not (m.startswith("iaf") and kind == "tau_mem_inv_per_neuron")  # IAF has no membrane time constant
    ],
)
def test_cpp_every_model_and_parameter_kind_matches_reference_float64(cpp_loops, model, method, kind):
    """Every feed-forward model x native surrogate x tensor/trainable parameters: the C++ loop
    runs (``_compare`` checks the kernel names), spikes and states equal the step loop's,
    gradients (trainable parameters' included) within ``GRAD_RTOL``."""
    make, x = _cpp_layer(model, method, kind)
    with use_backend("cpp"):
        _, grads = _compare(make, x, exact_states=model not in CPP_EXPONENTIAL)
    trained = [p for p in make(True).parameters() if p.requires_grad]
    assert len(trained) == {"per_neuron": 0, "tau_mem_inv_per_neuron": 1}.get(kind, len(TRAINABLE[model]))
    param_grads = grads[len(grads) - len(trained):]
    assert all(g is not None and g.shape == p.shape for g, p in zip(param_grads, trained))
    if method != "heaviside" and trained:
        assert all(g.abs().sum() > 0 for g in param_grads)


@pytest.mark.parametrize("trainable", [False, True], ids=["fixed", "trainable"])
@pytest.mark.parametrize("method", ["super", "triangle", "atan"])
@pytest.mark.parametrize("model", CPP_MODELS + sorted(LEAKY))
def test_cpp_matches_portable_float32(cpp_loops, model, method, trainable):
    """float32, several neuron blocks and a ragged tail, fixed parameters or every parameter
    trainable per neuron (spread): spikes and states equal the portable kernel's, gradients
    (the parameters' included) close."""
    n = 300
    fields = TRAINABLE[model] if trainable else ()
    if model in LEAKY:
        cls, p = LEAKY[model]
        layer, (scale, offset) = cls(p, trainable=fields, trainable_shape=(n,)), (2.0, 0.3)
    else:
        cls, make_p, scale, offset = FEED_FORWARD[model]
        layer = cls(make_p(method), trainable=fields, trainable_shape=(n,))
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.mul_(1 + 0.2 * torch.linspace(-1, 1, n)).add_(0.05 * torch.linspace(-1, 1, n))
    x = _input((64, 8, n), scale, offset, dtype=torch.float32)  # 2400 state elements: 9 blocks and 96
    results = {}
    for backend in ("torch", "cpp"):
        with use_backend(backend), record_kernels() as calls:
            out, final = layer(x)
            loss = (out * torch.linspace(-1, 1, out.shape[-1])).sum() + tree_flatten(final)[0][0].sum()
            grads = torch.autograd.grad(loss, [x, *layer.parameters()])
            assert_fused_ran(calls)
        results[backend] = (out, tree_flatten(final)[0], grads)
    (o_t, s_t, g_t), (o_c, s_c, g_c) = results["torch"], results["cpp"]
    assert torch.equal(o_c, o_t) if model not in CPP_EXPONENTIAL else (o_c != o_t).float().mean() < 1e-4
    for a, b in zip(s_c, s_t):
        assert torch.equal(a, b) if model not in CPP_EXPONENTIAL else torch.allclose(a, b, rtol=1e-5, atol=1e-5)
    assert len(g_c) == 1 + len(fields)
    for a, b in zip(g_c, g_t):  # float32 sums over 64 steps (and 8 rows) in another order
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4 * float(b.abs().max()))


CPP_RECURRENT = ["lif_recurrent", "lsnn_recurrent"]


@pytest.mark.parametrize("method", NATIVE)
@pytest.mark.parametrize("model", CPP_RECURRENT)
def test_cpp_recurrent_matches_reference_float64(cpp_loops, model, method):
    cls, make_p = RECURRENT[model]

    def make(f):
        torch.manual_seed(5)
        return cls(4, 7, make_p(method), fused=f).to(F64)

    x = _input((25, 3, 4), 2.0, 0.5)
    xin = torch.zeros(25, 3, 7, dtype=F64)
    with use_backend("cpp"):
        layer = make(True)
        cfg = portable.make_config(loops.DYNAMICS[model], layer.p, layer.dt)
        assert loops.select_kernel(model, xin, cfg, cfg.sur) is cpp.cpp_kernel(loops.DYNAMICS[model])
        out, grads = _compare(make, x, exact_states=False)
    assert 0.02 < out.mean().item() < 0.95
    if method != "heaviside":
        assert grads[-1].abs().sum() > 0  # recurrent weights learn


@pytest.mark.parametrize("kind", ["trainable", "trainable_per_neuron"])
@pytest.mark.parametrize("method", NATIVE)
@pytest.mark.parametrize("model", CPP_RECURRENT)
def test_cpp_recurrent_trainable_matches_reference_float64(cpp_loops, model, method, kind):
    """Every neuron parameter trainable (one per layer, or one per neuron, spread): the C++
    recurrent loop runs and its parameter gradients (summed over rows and time per neuron)
    match the step loop's, as do the weights'."""
    make, x = _cpp_layer(model, method, kind)
    with use_backend("cpp"):
        _, grads = _compare(make, x, exact_states=False)
    fields = TRAINABLE[model]
    param_grads = grads[len(grads) - len(fields):]
    assert all(g is not None for g in param_grads)
    if method != "heaviside":
        assert all(g.abs().sum() > 0 for g in param_grads)


def test_cpp_recurrent_per_neuron_parameters_and_batch_shapes(cpp_loops):
    """Per-neuron tensor parameters (e.g. only some neurons adapt) run the C++ loop, with
    several batch dimensions and more rows than one parallel chunk, and match the reference."""
    beta = torch.cat([torch.zeros(3), torch.full((3,), 0.4)]).to(F64)
    v_th = torch.linspace(0.4, 0.8, 6, dtype=F64)
    p = snn.LSNNParameters(tau_mem_inv=300.0, tau_adapt_inv=50.0, beta=beta, v_th=v_th, alpha=8.0)
    x = _input((30, 5, 4, 3), 2.0, 0.5)

    def make(f):
        torch.manual_seed(7)
        return snn.LSNNRecurrent(3, 6, p, fused=f).to(F64)

    calls = []
    kernel = cpp.cpp_kernel(loops.DYNAMICS["lsnn_recurrent"])
    forward = kernel.forward

    def counted(cfg, inputs, save, params=()):
        calls.append(inputs[0].shape)
        return forward(cfg, inputs, save, params)

    with use_backend("cpp"):
        kernel.forward = counted
        try:
            _compare(make, x, exact_states=False)
        finally:
            kernel.forward = forward
    assert calls and all(shape == (30, 5, 4, 6) for shape in calls)
    # a parameter per batch row and neuron is not per neuron: the portable kernel, even when forced
    x = torch.zeros(30, 5, 6)
    with use_backend("cpp"):
        for tau, compiled in ((torch.full((5, 6), 100.0), False), (torch.full((1, 6), 100.0), True)):
            cfg = portable.make_config(LSNN_DYNAMICS, snn.LSNNParameters(tau_mem_inv=tau), 0.001)
            chosen = loops.select_kernel("lsnn_recurrent", x, cfg, cfg.sur)
            assert (chosen is kernel) == compiled and (chosen is portable.kernel(loops.DYNAMICS["lsnn_recurrent"])) != compiled


def test_cpp_recurrent_chosen_for_small_layers_only(cpp_loops):
    cfg = portable.make_config(LIF_DYNAMICS, snn.LIFParameters(), 0.001)
    small = torch.zeros(10, 4, loops.RECURRENT_CPP_MAX_NEURONS)
    wide = torch.zeros(10, 4, loops.RECURRENT_CPP_MAX_NEURONS + 1)
    assert loops.select_kernel("lif_recurrent", small, cfg, cfg.sur) is cpp.cpp_kernel(loops.DYNAMICS["lif_recurrent"])
    assert loops.select_kernel("lif_recurrent", wide, cfg, cfg.sur) is portable.kernel(loops.DYNAMICS["lif_recurrent"])
    with use_backend("cpp"):  # forced: the C++ loop at any size
        assert loops.select_kernel("lif_recurrent", wide, cfg, cfg.sur) is cpp.cpp_kernel(loops.DYNAMICS["lif_recurrent"])
    # the adaptive loop has a limit of its own (docs/benchmarks.md, section 4)
    lsnn = portable.make_config(LSNN_DYNAMICS, snn.LSNNParameters(), 0.001)
    for width, expected in ((loops.RECURRENT_CPP_MAX_NEURONS_ADAPTIVE, cpp.cpp_kernel),
                            (loops.RECURRENT_CPP_MAX_NEURONS_ADAPTIVE + 1, portable.kernel)):
        x = torch.zeros(10, 4, width)
        assert loops.select_kernel("lsnn_recurrent", x, lsnn, lsnn.sur) is expected(loops.DYNAMICS["lsnn_recurrent"])


@pytest.mark.parametrize("model", CPP_RECURRENT)
def test_cpp_recurrent_matches_portable_many_rows(cpp_loops, model):
    """The memory task's shape (64 rows: several parallel chunks), sparse input spikes."""
    cls, make_p = RECURRENT[model]
    torch.manual_seed(1)
    layer = cls(20, 20, make_p("super")).to(F64)
    x = (torch.rand(400, 64, 20) < 0.05).to(F64).requires_grad_()
    results = {}
    for backend in ("torch", "cpp"):
        with use_backend(backend), record_kernels() as calls:
            out, final = layer(x)
            loss = (out * torch.linspace(-1, 1, 20, dtype=F64)).sum() + final.v.sum()
            grads = torch.autograd.grad(loss, [x, layer.recurrent_weights, layer.input_weights])
            assert_fused_ran(calls)
        results[backend] = (out, final, grads)
    (o_t, s_t, g_t), (o_c, s_c, g_c) = results["torch"], results["cpp"]
    assert o_t.sum() > 100 and torch.equal(o_c, o_t)
    for a, b in zip(s_c, s_t):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    for a, b in zip(g_c, g_t):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9 * float(b.abs().max()))


@pytest.mark.parametrize("layer", [snn.LIF, snn.LSNN, lambda: snn.LIFRecurrent(256, 256)], ids=["LIF", "LSNN", "LIFRecurrent"])
def test_cpp_sequence_outputs_reuse_freed_blocks_seen_by_the_profiler(cpp_loops, layer):
    """Outputs of sequence size come from a cache of freed blocks (no page faults for the next
    call's); the memory profiler still sees them allocated and released."""
    from torch.profiler import ProfilerActivity, profile

    module, x = layer(), torch.rand(50, 8, 256, requires_grad=True)  # 400 KB outputs: cached
    cached = torch.ops.norse_core_fused.cached_bytes
    with use_backend("cpp"):
        reference = module(x.detach())[0]
        live, idle = cached()
        out = module(x)[0]
        out.sum().backward()
        ours = 1 if isinstance(module, snn.LIFRecurrent) else 2  # the output (and dL/dx: the input projection's is torch's)
        assert cached()[0] >= live + ours * x.nbytes
        live, idle = cached()
        del out
        x.grad = None
        assert cached()[0] < live and cached()[1] >= idle + x.nbytes  # freed into the cache
        live, idle = cached()
        again = module(x)[0]
        assert cached()[1] <= idle - x.nbytes  # taken from it
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            module(x.detach())
    torch.testing.assert_close(again, reference, rtol=0, atol=0)
    ops = {e.key: e.cpu_memory_usage for e in prof.key_averages() if e.key.startswith("norse_core_fused::")}
    assert any(usage >= x.numel() * 4 for usage in ops.values()), ops


def test_cpp_empty_cache_frees_the_waiting_blocks(cpp_loops, monkeypatch):
    """``fused.empty_cache()`` frees the blocks waiting in the cache and returns their bytes;
    live outputs keep theirs, and later outputs are allocated anew."""
    layer, x = snn.LIF(), torch.rand(50, 8, 256, requires_grad=True)
    cached = torch.ops.norse_core_fused.cached_bytes
    with use_backend("cpp"):
        out = layer(x)[0]
        out.sum().backward()
        kept = layer(x.detach())[0]
        del out
        x.grad = None  # the output and dL/dx: into the cache
        live, idle = cached()
        assert idle >= 2 * x.nbytes and live >= x.nbytes
        assert fused.empty_cache() == idle
        assert cached() == [live, 0]
        assert fused.empty_cache() == 0
        again = layer(x.detach())[0]
    torch.testing.assert_close(again, kept, rtol=0, atol=0)
    monkeypatch.setattr(cpp, "loaded", lambda: False)
    assert fused.empty_cache() == 0


@pytest.mark.parametrize("model", CPP_MODELS + sorted(LEAKY))
def test_cpp_time_constant_input_read_in_place(cpp_loops, model):
    """An input constant over time (one row expanded over the steps, stride 0) runs the C++
    loop on that row: outputs, final states and every gradient bitwise those of the same
    values contiguous, and neither forward nor backward copies the sequence."""
    from torch.profiler import ProfilerActivity, profile

    if model in LEAKY:
        (cls, p), scale, offset = LEAKY[model], 1.0, 0.5
    else:
        cls, make_p, scale, offset = FEED_FORWARD[model]
        p = make_p("super")
    row = _input((3, 9), scale, offset).detach()
    layer = cls(p, fused=True)
    results = []
    for expanded in (True, False):
        base = row.clone().requires_grad_()
        x = base.unsqueeze(0).expand(40, 3, 9)
        x = x if expanded else x.contiguous()
        state = _random_state(layer, x, 0)
        with use_backend("cpp"), record_kernels() as calls:
            out, final, grads = _run(layer, x, state)
        assert_fused_ran(calls)
        results.append((out, final, grads))
    (out_e, final_e, grads_e), (out_c, final_c, grads_c) = results
    assert torch.equal(out_e, out_c) and all(torch.equal(a, b) for a, b in zip(final_e, final_c))
    assert all(torch.equal(a, b) for a, b in zip(grads_e, grads_c) if b is not None)
    base = row.clone().requires_grad_()
    x = base.unsqueeze(0).expand(400, 3, 9)
    with use_backend("cpp"), profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        layer(x)[0].sum().backward()
    copies = [e.name for e in prof.events() if e.name == "aten::copy_" and list(x.shape) in e.input_shapes]
    assert copies == [] and base.grad is not None


def test_cpp_disabled_by_environment(cpp_loops, monkeypatch):
    monkeypatch.setenv("NORSE_CORE_NO_EXTENSION", "1")
    assert cpp.kernel(loops.DYNAMICS["lif"], 10**8) is None
    x = torch.randn(2, cpp.MIN_NUMEL_TO_BUILD)
    cfg = portable.make_config(LIF_DYNAMICS, snn.LIFParameters(), 0.001)
    assert loops.select_kernel("lif", x, cfg, fused.Surrogate.of("super", 100.0)) is portable.kernel(LIF_DYNAMICS)


def test_cpp_not_used_for_logistic_or_unfit_tensor_parameters(cpp_loops):
    x = torch.randn(10, 5000)
    cfg = portable.make_config(LIF_DYNAMICS, snn.LIFParameters(method="logistic"), 0.001)
    assert loops.select_kernel("lif", x, cfg, cfg.sur) is portable.kernel(loops.DYNAMICS["lif"])
    for v_th in (torch.ones(5000, dtype=F64), torch.ones(2, 5000)):  # another dtype; enlarges the state
        cfg = portable.make_config(LIF_DYNAMICS, snn.LIFParameters(v_th=v_th), 0.001)
        assert loops.select_kernel("lif", x, cfg, cfg.sur) is portable.kernel(loops.DYNAMICS["lif"])
    # every feed-forward model takes tensors
    cfg = portable.make_config(LSNN_DYNAMICS, snn.LSNNParameters(v_th=torch.ones(5000)), 0.001)
    assert loops.select_kernel("lsnn", x, cfg, cfg.sur) is cpp.cpp_kernel(loops.DYNAMICS["lsnn"])
    for p in (snn.LIFParameters(), snn.LIFParameters(v_th=torch.ones(5000), tau_mem_inv=torch.tensor(90.0))):
        cfg = portable.make_config(LIF_DYNAMICS, p, 0.001)
        assert loops.select_kernel("lif", x, cfg, cfg.sur) is cpp.cpp_kernel(loops.DYNAMICS["lif"])


# -- C++ loops: tensor and trainable parameters -------------------------------------------------------

#: The parameters each C++ LIF-family layer differentiates (the subtract reset does not use
#: ``v_reset``: its gradient is ``None``, as the reference's).
CPP_TRAINABLE = {
    "lif": ("tau_mem_inv", "tau_syn_inv", "v_leak", "v_th", "v_reset"),
    "lif_subtract": ("tau_mem_inv", "tau_syn_inv", "v_leak", "v_th", "v_reset"),
    "lif_box_value": ("tau_mem_inv", "v_leak", "v_th", "v_reset"),
    "lif_box_subtract": ("tau_mem_inv", "v_leak", "v_th", "v_reset"),
}
#: (time, batch, neurons): two neuron blocks of the C++ loops (256 state elements each), the
#: second ragged.
TRAINABLE_SHAPE = (30, 4, 70)


def _cpp_trainable_layer(model, method, fields, per_neuron, fused_loop):
    """A float64 layer of ``model`` with ``fields`` trainable: one value, or one per neuron
    (spread around the initial value, so that a mixed-up neuron would show)."""
    cls, make_p, _, _ = FEED_FORWARD[model]
    n = TRAINABLE_SHAPE[-1]
    layer = cls(make_p(method), trainable=fields, trainable_shape=(n,) if per_neuron else None, fused=fused_loop).to(F64)
    if per_neuron:
        spread = torch.linspace(-1, 1, n, dtype=F64)
        with torch.no_grad():
            for field in fields:
                parameter = getattr(layer, "p_" + field)
                parameter.mul_(1 + 0.2 * spread).add_(0.05 * spread)
    return layer


@pytest.mark.parametrize("per_neuron", [False, True], ids=["scalar", "per_neuron"])
@pytest.mark.parametrize("method", NATIVE)
@pytest.mark.parametrize("model, field", [(m, f) for m, fields in CPP_TRAINABLE.items() for f in fields])
def test_cpp_trainable_parameter_matches_reference_float64(cpp_loops, model, field, method, per_neuron):
    """One trainable parameter (a layer scalar or one per neuron): the C++ loop runs (not the
    step loop), spikes and states bitwise equal, gradients to input, initial state and the
    parameter within ``GRAD_RTOL`` of the step loop's."""
    _, _, scale, offset = FEED_FORWARD[model]
    x = _input(TRAINABLE_SHAPE, scale, offset)
    with use_backend("cpp"):
        out, grads = _compare(lambda f: _cpp_trainable_layer(model, method, (field,), per_neuron, f), x)
    assert 0.02 < out.mean().item() < 0.95
    if model.endswith("_subtract") and field == "v_reset":
        assert grads[-1] is None  # unused by the reference and the C++ kernel
        return
    assert grads[-1].shape == ((TRAINABLE_SHAPE[-1],) if per_neuron else ())
    if not (method == "heaviside" and field == "v_th"):  # the Heaviside surrogate's derivative is 0
        assert grads[-1].abs().sum() > 0


@pytest.mark.parametrize("method", ["super", "atan"])
@pytest.mark.parametrize("model", sorted(CPP_TRAINABLE))
def test_cpp_all_parameters_trainable_match_reference_float64(cpp_loops, model, method):
    """Every parameter trainable at once, per neuron (all gradients from one backward)."""
    _, _, scale, offset = FEED_FORWARD[model]
    x = _input(TRAINABLE_SHAPE, scale, offset, seed=3)
    fields = CPP_TRAINABLE[model]
    with use_backend("cpp"):
        _, grads = _compare(lambda f: _cpp_trainable_layer(model, method, fields, True, f), x, seed=3)
    param_grads = dict(zip(fields, grads[-len(fields):]))
    for field, grad in param_grads.items():
        if not (model.endswith("_subtract") and field == "v_reset"):
            assert grad.shape == (TRAINABLE_SHAPE[-1],) and grad.abs().sum() > 0, field


@pytest.mark.parametrize("v_th", ["per_neuron", "per_element"])
@pytest.mark.parametrize("model", sorted(CPP_TRAINABLE))
def test_cpp_trainable_time_constant_beside_fixed_tensor_threshold(cpp_loops, model, v_th):
    """PLIF with a fixed tensor threshold: the kernel that keeps only ``a`` per element cannot
    take it, so the backward that reads every parameter per element runs; the threshold's
    values must reach it (the gradient of ``tau_mem_inv`` is the step loop's)."""
    cls, make_p, scale, offset = FEED_FORWARD[model]
    x = _input(TRAINABLE_SHAPE, scale, offset, seed=4)
    n = TRAINABLE_SHAPE[-1]
    shape = (n,) if v_th == "per_neuron" else TRAINABLE_SHAPE[1:]
    threshold = 0.5 + 0.3 * torch.rand(shape, dtype=F64, generator=torch.Generator().manual_seed(5))
    p = make_p("super")._replace(v_th=threshold)
    with use_backend("cpp"):
        out, grads = _compare(lambda f: cls(p, trainable=("tau_mem_inv",), trainable_shape=(n,), fused=f).to(F64), x,
                              seed=4)
    assert 0.02 < out.mean().item() < 0.95
    assert grads[-1].shape == (n,) and grads[-1].abs().sum() > 0


#: (time, batch, channels, height, width): a conv layer's state, 640 elements (a block of 512 and part of one).
CONV_SHAPE = (20, 2, 5, 8, 8)


@pytest.mark.parametrize("tau_shape, v_th_shape", [
    ((), ()), ((1,), (5, 1, 1)), ((5, 1, 1), (8, 8)), ((5, 8, 8), (8,)), ((5, 1, 1), None), ((1, 8, 1), None),
], ids=str)
def test_cpp_trainable_parameters_spanning_trailing_dimensions(cpp_loops, tau_shape, v_th_shape):
    """Trainable parameters of a conv layer, one value, per channel, per position...: the C++
    loop reads each one's values repeating over the leading state dimensions and sums the
    gradients over them; ``v_th_shape`` None: only ``tau_mem_inv`` trains (the cheaper
    backward), the threshold a fixed number."""
    g = torch.Generator().manual_seed(7)
    tau = 250.0 + 100.0 * torch.rand(tau_shape, dtype=F64, generator=g)
    fields = ("tau_mem_inv",) if v_th_shape is None else ("tau_mem_inv", "v_th")
    v_th = 0.6 if v_th_shape is None else 0.5 + 0.2 * torch.rand(v_th_shape, dtype=F64, generator=g)
    p = snn.LIFParameters(tau_mem_inv=tau, v_th=v_th, method="super", alpha=8.0)
    x = _input(CONV_SHAPE, 3.0, 0.6, seed=7)
    with use_backend("cpp"):
        out, grads = _compare(lambda f: snn.LIF(p, trainable=fields, fused=f).to(F64), x, seed=7)
    assert 0.02 < out.mean().item() < 0.95
    shapes = (tau_shape,) if v_th_shape is None else (tau_shape, v_th_shape)
    for grad, shape in zip(grads[-len(fields):], shapes):
        assert grad.shape == shape and grad.abs().sum() > 0


@pytest.mark.parametrize("kind", ["fixed", "tau_per_neuron", "tau_scalar"])
@pytest.mark.parametrize("model", ["lif", "lif_box_value", "lsnn"])
def test_cpp_wide_blocks_match_portable_float32(cpp_loops, model, kind):
    """Layers wide enough for the C++ forward's blocks of 2048 neurons and the backward's of 1024
    (at least two blocks per thread) with a ragged tail: spikes and states equal the portable
    kernel's, gradients (the time constant's included) close."""
    cls, make_p, scale, offset = FEED_FORWARD[model]
    n = 2300
    x = _input((12, 4 * torch.get_num_threads() + 1, n), scale, offset, dtype=torch.float32)  # > 2 x 2048 per thread
    options = {"fixed": {}, "tau_per_neuron": {"trainable": ("tau_mem_inv",), "trainable_shape": (n,)},
               "tau_scalar": {"trainable": ("tau_mem_inv",)}}[kind]
    layer = cls(make_p("super"), **options)
    results = {}
    for backend in ("torch", "cpp"):
        with use_backend(backend), record_kernels() as calls:
            out, final = layer(x)
            loss = (out * torch.linspace(-1, 1, n)).sum() + tree_flatten(final)[0][0].sum()
            grads = torch.autograd.grad(loss, [x, *layer.parameters()])
            assert_fused_ran(calls)
        results[backend] = (out, tree_flatten(final)[0], grads)
    (o_t, s_t, g_t), (o_c, s_c, g_c) = results["torch"], results["cpp"]
    assert torch.equal(o_c, o_t) and 0.02 < o_c.mean().item() < 0.9
    assert all(torch.equal(a, b) for a, b in zip(s_c, s_t))
    assert len(g_c) == 1 + bool(options)
    for a, b in zip(g_c, g_t):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4 * float(b.abs().max()))


def test_cpp_backward_is_not_differentiable(cpp_loops):
    """The C++ loops' autograd node (one for outputs and final state) says so when asked for a
    differentiable backward (create_graph=True) instead of returning a gradient without a graph."""
    x = _input((20, 4, 8), 2.0, 0.5)
    with use_backend("cpp"):
        out, state = snn.LIF()(x)
    assert out.grad_fn is state.v.grad_fn and type(out.grad_fn).__name__ == "CppFunction"
    with pytest.raises(RuntimeError, match="fused loops' backward is not differentiable.*fused=False"):
        torch.autograd.grad(out.sum(), x, create_graph=True)
    assert torch.autograd.grad(out.sum(), x)[0].shape == x.shape


@pytest.mark.parametrize("model", ["lif", "lif_box_subtract", "lsnn", "lif_adex_refrac", "li"])
@pytest.mark.parametrize("loss", ["output", "final voltage", "output, fixed initial state"])
def test_cpp_gradients_of_unused_outputs_are_zeros(cpp_loops, model, loss):
    """The C++ node's backward takes an unused output or final state as zeros (autograd hands
    it no tensor) and computes the initial state's gradient only where one is needed: gradients
    equal the step loop's for a loss on the outputs alone or on the final voltage alone, and a
    fixed initial state gets none."""
    cls, make_p = LEAKY[model] if model in LEAKY else FEED_FORWARD[model][:2]
    p = make_p if model in LEAKY else make_p("super")
    x = _input((30, 2, 6), 2.0, 0.6)
    grads = []
    for fused in (True, False):
        layer = cls(p, fused=fused).to(F64)
        state = _random_state(layer, x, 0)
        if loss.endswith("fixed initial state"):
            state = tree_map(lambda t: t.detach(), state)
        with use_backend("cpp"), record_kernels() as calls:
            out, final = layer(x, state)
        assert_fused_ran(calls, fused)
        value = out.sum() if loss.startswith("output") else _leaves(final)[0].sum()
        leaves = [t for t in [x, *_leaves(state)] if t.requires_grad]
        grads.append(torch.autograd.grad(value, leaves, allow_unused=True))
    assert len(grads[0]) == (1 if loss.endswith("fixed initial state") else 1 + len(_leaves(state)))
    assert_grads_close(*grads)
    assert grads[1][0].abs().sum() > 0


@pytest.mark.parametrize("model", sorted(CPP_TRAINABLE))
def test_cpp_tensor_parameters_match_reference_float64(cpp_loops, model):
    """Fixed (not trainable) tensor parameters: one value per neuron, a 0-dim tensor, and one
    per state element (batch x neurons), on the C++ loop."""
    cls, make_p, scale, offset = FEED_FORWARD[model]
    x = _input(TRAINABLE_SHAPE, scale, offset, seed=1)
    n = TRAINABLE_SHAPE[-1]
    base = make_p("super")
    tensors = {
        "tau_mem_inv": torch.linspace(200.0, 400.0, n, dtype=F64),
        "v_th": 0.6 + 0.1 * torch.rand(TRAINABLE_SHAPE[1:], dtype=F64, generator=torch.Generator().manual_seed(2)),
        "v_leak": torch.tensor(0.05, dtype=F64),
    }
    p = base._replace(**tensors)
    with use_backend("cpp"):
        _compare(lambda f: cls(p, fused=f), x, seed=1)


def test_cpp_trainable_parameters_chosen_automatically(cpp_loops):
    """Once the C++ loops are loaded, a layer with a trainable per-neuron time constant runs
    them without forcing a backend; float32 parameter gradients agree with the step loop's."""
    x = (torch.randn(50, 8, 300) * 3 + 0.6).requires_grad_()
    results = {}
    for fused_loop in (False, True):
        torch.manual_seed(0)
        layer = snn.LIF(snn.LIFParameters(v_th=0.6), trainable=("tau_mem_inv",), trainable_shape=(300,), fused=fused_loop)
        with torch.no_grad():
            layer.p_tau_mem_inv.mul_(1 + 0.5 * torch.rand(300))
        with record_kernels() as calls:
            out, final = layer(x)
            loss = (out * torch.linspace(-1, 1, 300)).sum() + final.v.sum()
            grads = torch.autograd.grad(loss, [x, layer.p_tau_mem_inv])
        assert calls == (["LIFCpp"] if fused_loop else [])
        results[fused_loop] = (out, final, grads)
    (o_r, s_r, g_r), (o_f, s_f, g_f) = results[False], results[True]
    assert torch.equal(o_f, o_r) and all(torch.equal(a, b) for a, b in zip(s_f, s_r))
    for a, b in zip(g_f, g_r):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * float(b.abs().max()))


def test_build_failure_warns_once_and_falls_back(monkeypatch):
    import torch.utils.cpp_extension as cpp_extension

    def fail(*args, **kwargs):
        raise RuntimeError("no C++ compiler here\nmore details")

    monkeypatch.setattr(cpp, "_status", {"loaded": False, "error": None})
    monkeypatch.setattr(cpp_extension, "load_inline", fail)
    monkeypatch.delenv("NORSE_CORE_NO_EXTENSION", raising=False)
    x = torch.randn(2, cpp.MIN_NUMEL_TO_BUILD // 2) + 0.5
    with pytest.warns(RuntimeWarning, match=r"compiled fused loops unavailable \(RuntimeError: no C\+\+ compiler here\); using the portable") as record:
        out, _ = snn.LIF()(x)
        out2, _ = snn.LIF()(x)
    assert len([w for w in record if "compiled fused loops" in str(w.message)]) == 1
    assert torch.equal(out, snn.LIF(fused=False)(x)[0]) and torch.equal(out, out2)
    with pytest.raises(RuntimeError, match="unavailable"):
        with use_backend("cpp"):
            snn.LIF()(x)


def test_build_announces_itself_and_uses_its_own_folder(cpp_loops, fake_extension_cache, tmp_path, capsys):
    """A build prints one line when it starts and one when it ends; loading a cached build
    prints nothing. The folder is this install's own (below TORCH_EXTENSIONS_DIR)."""
    loads = fake_extension_cache.use(cpp, leaves_library=True).loads
    assert cpp.build()
    err = capsys.readouterr().err.splitlines()
    assert [load["build_directory"] for load in loads] == [str(tmp_path / cpp._NAME)]
    assert len(err) == 2, err
    assert err[0].startswith(f"norse_core: compiling the fused CPU kernels once, about {cpp.BUILD_SECONDS} s")
    assert re.fullmatch(r"norse_core: compiled the fused CPU kernels in \d+ s; later runs load them", err[1]), err
    fake_extension_cache.forget(cpp)
    assert cpp.build() and len(loads) == 2
    assert capsys.readouterr().err == ""  # cached: loaded silently


def test_small_calls_load_a_cached_build_but_never_compile(cpp_loops, fake_extension_cache):
    """Below MIN_NUMEL_TO_BUILD a call starts no build (the portable loops run), but it loads a
    build an earlier run left in the cache, so small workloads run the C++ loops too."""
    loads = fake_extension_cache.use(cpp).loads
    small = cpp.MIN_NUMEL_TO_BUILD // 4
    assert cpp.kernel(LIF_DYNAMICS, small) is None and loads == [] and not cpp.loaded()
    fake_extension_cache.leave_library(cpp)
    assert cpp.kernel(LIF_DYNAMICS, small) is cpp.cpp_kernel(LIF_DYNAMICS) and cpp.loaded()
    assert [load["name"] for load in loads] == [cpp._NAME]  # the cached library, loaded
    x = torch.randn(100, 2, 64)
    with record_kernels() as ran:
        snn.LIF()(x)
    assert ran == ["LIFCpp"], ran


def test_two_installs_build_in_different_folders():
    """The build folder's name depends on the Python prefix (another venv) and on torch's
    location, so two installs on one machine never rebuild over each other."""
    code = "import sys; {}; from norse_core.fused import cpp; print(cpp._NAME)"
    names = set()
    for patch in ("pass", "sys.prefix = '/another/venv'", "import torch; torch.__file__ = '/another/torch/__init__.py'"):
        result = subprocess.run([sys.executable, "-c", code.format(patch)], cwd=REPO, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        names.add(result.stdout.strip())
    assert len(names) == 3 and all(name.startswith("norse_core_fused_") for name in names), names


def test_native_builds_are_named_per_cpu(monkeypatch):
    """A ``-march=native`` build depends on the CPU: its folder name includes the CPU's
    features (machines with other CPUs sharing a home folder keep one build each); a build
    without it does not. On Linux the loops are built for the CPU's vector units."""
    flags = ["-O3", "-march=native"]
    monkeypatch.setattr(native, "cpu_features", lambda: "fpu sse2 avx512f")
    first = native.library_name("x_", "source", flags)
    portable_first = native.library_name("x_", "source", ["-O3"])
    monkeypatch.setattr(native, "cpu_features", lambda: "fpu sse2")
    assert native.library_name("x_", "source", flags) != first
    assert native.library_name("x_", "source", ["-O3"]) == portable_first
    if sys.platform.startswith("linux"):
        assert "-march=native" in cpp._EXTRA_CFLAGS and "-ffp-contract=off" in cpp._EXTRA_CFLAGS
        assert native.cpu_features()  # the flags line of /proc/cpuinfo


def test_cpp_source_is_package_data():
    """The C++ source is a real file inside the package, listed as package data (a wheel
    ships it), and what the build compiles and hashes into the folder name."""
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

    path = Path(cpp.SOURCE_PATH)
    assert path.is_file() and path.parent.parent == Path(cpp.__file__).parent
    assert cpp.SOURCE == path.read_text(encoding="utf-8") and "TORCH_LIBRARY(norse_core_fused" in cpp.SOURCE
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert any(path.match(f"*/norse_core/fused/{pattern}") for pattern in package_data["norse_core.fused"])


def test_import_never_builds(tmp_path):
    """Neither the import nor a small call builds (an empty extension cache: nothing to load)."""
    code = (
        "import sys, torch, norse_core as snn; snn.LIF()(torch.ones(3, 2)); "
        "cpp = sys.modules.get('norse_core.fused.cpp'); "
        "assert cpp is None or cpp._status == {'loaded': False, 'error': None}, cpp._status; "
        "assert 'norse_core.fused.triton_backend' not in sys.modules; print('ok')"
    )
    env = {**os.environ, "TORCH_EXTENSIONS_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# -- Triton kernels under the interpreter ------------------------------------------------------------

TRITON_SCRIPT = textwrap.dedent(
    """
    import sys, torch, norse_core as snn
    from norse_core.fused import record_kernels, triton_backend, use_backend
    sys.path.insert(0, "tests")
    from test_fused import FEED_FORWARD, LEAKY, TRAINABLE, _input
    assert triton_backend.triton is not None
    NATIVE = ("super", "triangle", "tanh", "circ", "heavi_erfc", "atan", "sigmoid", "heaviside")
    cases = [(m, method) for m in ("lif", "lif_box_value", "lif_box_subtract") for method in NATIVE]
    cases += [(m, "super") for m in sorted(FEED_FORWARD) if m not in ("lif", "lif_box_value", "lif_box_subtract")]
    cases += [(m, None) for m in sorted(LEAKY)]
    ran = 0
    for model, method in cases:
        for dtype in ((torch.float64, torch.float32) if model == "lif" else (torch.float64,)):
            for trainable in ((), TRAINABLE[model]):
                if model in LEAKY:
                    cls, p = LEAKY[model]
                    make = lambda: cls(p, trainable=trainable, trainable_shape=(100,)).to(dtype)
                else:
                    cls, make_p, _, _ = FEED_FORWARD[model]
                    make = lambda: cls(make_p(method), trainable=trainable, trainable_shape=(100,)).to(dtype)
                torch.manual_seed(0)
                scale, offset = FEED_FORWARD[model][2:] if model.endswith("_subtract") else (3.0, 0.8)
                x = (torch.randn(30, 3, 100, dtype=dtype) * scale + offset).requires_grad_()
                layer = make()
                res = {}
                for backend in ("torch", "triton"):
                    with use_backend(backend), record_kernels() as calls:
                        state = layer.initial_state(x[0])
                        flat, spec = torch.utils._pytree.tree_flatten(state)
                        flat = [s.clone().requires_grad_() for s in flat]
                        out, final = layer(x, torch.utils._pytree.tree_unflatten(flat, spec))
                        finals = torch.utils._pytree.tree_flatten(final)[0]
                        loss = (out * torch.linspace(-1, 1, 100, dtype=dtype)).sum() + sum(f.sum() for f in finals)
                        params = [q for q in layer.parameters() if q.requires_grad]
                        grads = torch.autograd.grad(loss, [x, *flat, *params])
                    suffix = "Triton" if backend == "triton" else "Torch"
                    assert calls and all(c.endswith(suffix) for c in calls), (model, backend, calls)
                    res[backend] = (out, finals, grads)
                (o1, s1, g1), (o2, s2, g2) = res["torch"], res["triton"]
                exact = "ex" not in model  # LIFEx/LIFAdEx: Triton's exp may differ in the last bit
                tol = 1e-9 if dtype == torch.float64 else 1e-4
                if exact:
                    assert torch.equal(o1, o2), (model, method, trainable)
                    assert all(torch.equal(a, b) for a, b in zip(s1, s2)), (model, method, trainable)
                else:
                    torch.testing.assert_close(o2, o1, rtol=tol, atol=tol)
                for a, b in zip(g1, g2):
                    torch.testing.assert_close(b, a, rtol=tol, atol=tol * float(a.abs().max()))
                ran += 1
    print("ok", ran)
    """
)


def test_triton_interpreter_matches_portable():
    try:
        import triton  # noqa: F401
    except Exception as error:  # noqa: BLE001
        pytest.skip(f"triton not importable: {error}")
    env = dict(os.environ, TRITON_INTERPRET="1")
    result = subprocess.run([sys.executable, "-c", TRITON_SCRIPT], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    if result.returncode != 0 and "ok" not in result.stdout and ("interpret" in result.stderr.lower() and "not supported" in result.stderr.lower()):
        pytest.skip("the Triton interpreter does not run these kernels here")
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.strip().startswith("ok")


# -- a new model is its dynamics declaration -----------------------------------------------------

class BoxALIFParameters(NamedTuple):
    tau_mem_inv: float = 300.0
    tau_adapt_inv: float = 50.0
    v_leak: float = 0.0
    v_th: float = 0.6
    v_reset: float = 0.0
    beta: float = 0.3
    method: str = "super"
    alpha: float = 8.0


class BoxALIFState(NamedTuple):
    v: torch.Tensor
    b: torch.Tensor


def box_alif_step(x, state, p, dt):
    """A box membrane with an adaptive threshold (LSNN without the synaptic current)."""
    vd = state.v + dt * p.tau_mem_inv * ((p.v_leak - state.v) + x)
    bd = state.b + dt * p.tau_adapt_inv * (p.v_th - state.b)
    z = snn.threshold(vd - bd, p.method, p.alpha)
    return z, BoxALIFState((1 - z) * vd + z * p.v_reset, bd + p.beta * z)


class BoxALIFCell(SNNCell):
    parameters_type = BoxALIFParameters
    state_type = BoxALIFState
    step = staticmethod(box_alif_step)
    initial_values = {"v": "v_leak", "b": "v_th"}


class BoxALIF(SNN, BoxALIFCell):
    dynamics = Dynamics("box_alif", adaptive=True)


@pytest.mark.parametrize("trainable", [(), ("tau_mem_inv", "tau_adapt_inv", "v_th", "beta")])
def test_a_model_declared_here_runs_fused(trainable):
    """A model defined in this file by its step function and one ``Dynamics`` line runs the
    generic fused kernel, equal to its own step loop (trainable parameters included)."""
    x = _input((40, 3, 9), 3.0, 0.8)
    with use_backend("torch"):
        out, grads = _compare(lambda f: BoxALIF(trainable=trainable, trainable_shape=(9,), fused=f).to(F64), x)
    assert 0.05 < out.mean().item() < 0.9
    assert all(g.abs().sum() > 0 for g in grads)


# -- autocast (trainer.precision=bf16-mixed) --------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_runs_the_compiled_kernel_in_float32(cpp_loops, dtype):
    """Under autocast a low-precision input runs the dynamics in float32 (the C++ loop runs):
    the output comes back in the input's dtype, the state stays float32, both equal the
    float32 step loop on the same (upcast) input; gradients flow back in the input's dtype."""
    x = (torch.randn(30, 4, 16) * 3 + 0.6).to(dtype).requires_grad_()
    p = snn.LIFParameters(tau_mem_inv=300.0, v_th=0.6)
    with torch.autocast("cpu", dtype=dtype), use_backend("cpp"), record_kernels() as calls:
        out, state = snn.LIF(p)(x)
    assert calls == ["LIFCpp"]
    assert out.dtype == dtype and state.v.dtype == state.i.dtype == torch.float32
    ref_out, ref_state = snn.LIF(p, fused=False)(x.detach().float())
    assert torch.equal(out, ref_out.to(dtype)) and torch.equal(state.v, ref_state.v)
    out.float().sum().backward()
    assert x.grad.dtype == dtype and x.grad.abs().sum() > 0


def test_autocast_casts_one_step_of_a_time_constant_input(cpp_loops):
    """A low-precision input constant over time (the MNIST net's direct encoding: one current
    expanded over the steps) is cast to float32 one step at a time-broadcast, not copied per
    step; output and input gradient are bitwise those of the same values contiguous."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class FullSizeCasts(TorchDispatchMode):
        def __init__(self, numel):
            super().__init__()
            self.numel, self.seen = numel, []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if func is torch.ops.aten._to_copy.default and out.numel() == self.numel and out.dtype == torch.float32:
                self.seen.append(func)
            return out

    row = (torch.randn(4, 16) * 3 + 0.6).to(torch.bfloat16)
    results = []
    for expanded in (True, False):
        base = row.clone().requires_grad_()
        x = base.unsqueeze(0).expand(30, 4, 16)
        x = x if expanded else x.contiguous()
        with torch.autocast("cpu", dtype=torch.bfloat16), use_backend("cpp"), FullSizeCasts(x.numel()) as casts:
            out, _ = snn.LIF(snn.LIFParameters(tau_mem_inv=300.0, v_th=0.6))(x)
        (out.float() * torch.linspace(-1, 1, out.numel()).view(out.shape)).sum().backward()
        assert bool(casts.seen) != expanded
        results.append((out, base.grad))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])
    assert results[0][1].dtype == torch.bfloat16 and results[0][1].abs().sum() > 0


def test_low_precision_outside_autocast_keeps_its_dtype():
    x = torch.randn(5, 2, 3).to(torch.bfloat16)
    out, state = snn.LIF()(x)
    assert out.dtype == state.v.dtype == torch.bfloat16
