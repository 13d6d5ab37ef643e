"""The adjoint functions (Norse's ``functional.adjoint``): exact gradients of our steps, memory
constant in the number of steps for the sequence-level loops, Norse's call signatures."""

import importlib
import inspect
import os
import warnings

import pytest
import torch
from torch.utils._pytree import tree_flatten, tree_unflatten

import norse_core as snn
from norse_core.functional import adjoint as A
from norse_core.functional.coba_lif import CobaLIFParameters, CobaLIFState, coba_lif_step
from norse_core.functional.lif import LIFFeedForwardState, LIFParameters, LIFState, lif_feed_forward_step, lif_step
from norse_core.functional.lif_box import LIFBoxFeedForwardState, LIFBoxParameters, lif_box_feed_forward_step
from norse_core.functional.lif_mc import lif_mc_refrac_step, lif_mc_step
from norse_core.functional.lif_refrac import (
    LIFRefracFeedForwardState,
    LIFRefracParameters,
    LIFRefracState,
    lif_refrac_feed_forward_step,
    lif_refrac_step,
)
from norse_core.functional.lsnn import LSNNFeedForwardState, LSNNParameters, LSNNState, lsnn_feed_forward_step, lsnn_step
from norse_core.functional.threshold import surrogate_methods

F64 = torch.float64
T, B, N_IN, N = 8, 3, 5, 4


def _alpha(method):
    return 100.0 if method in ("super", "superspike") else 3.0


def _rand(gen, *shape, low=0.0, high=1.0):
    return low + (high - low) * torch.rand(*shape, generator=gen, dtype=F64)


def _weights(gen, *shape, scale=1.0):
    return scale * torch.randn(*shape, generator=gen, dtype=F64)


# Each case: (adjoint step, reference step, parameters(method, alpha), inputs(gen) ->
# (x (T, ...), state, extra tensors passed after the state)).
def _lif_ff(gen):
    return _rand(gen, T, B, N, high=6.0), LIFFeedForwardState(_rand(gen, B, N), _rand(gen, B, N)), ()


def _lif_rec(gen):
    state = LIFState((_rand(gen, B, N) > 0.5).double(), _rand(gen, B, N), _rand(gen, B, N))
    return _rand(gen, T, B, N_IN, high=3.0), state, (_weights(gen, N, N_IN, scale=2.0), _weights(gen, N, N))


def _lsnn_ff(gen):
    state = LSNNFeedForwardState(_rand(gen, B, N), _rand(gen, B, N), _rand(gen, B, N, low=0.8, high=1.2))
    return _rand(gen, T, B, N, high=6.0), state, ()


def _lsnn_rec(gen):
    x, (z, v, i), w = _lif_rec(gen)
    return x, LSNNState(z, v, i, _rand(gen, B, N, low=0.8, high=1.2)), w


def _rho(gen):
    return torch.randint(0, 3, (B, N), generator=gen).double()


def _refrac_ff(gen):
    x, s, _ = _lif_ff(gen)
    return x, LIFRefracFeedForwardState(s, _rho(gen)), ()


def _refrac_rec(gen):
    x, s, w = _lif_rec(gen)
    return x, LIFRefracState(s, _rho(gen)), w


def _mc(gen):
    x, s, w = _lif_rec(gen)
    return x, s, (*w, _weights(gen, N, N, scale=20.0))


def _mc_refrac(gen):
    x, s, w = _refrac_rec(gen)
    return x, s, (*w, _weights(gen, N, N, scale=20.0))


def _coba(gen):
    z = (_rand(gen, B, N) > 0.5).double()
    state = CobaLIFState(z, _rand(gen, B, N, low=-14.0, high=-9.0), _rand(gen, B, N), _rand(gen, B, N))
    return _weights(gen, T, B, N_IN, scale=2.0), state, (_weights(gen, N, N_IN, scale=2.0), _weights(gen, N, N))


def _lif_p(method, alpha):
    return LIFParameters(method=method, alpha=alpha)


def _refrac_p(method, alpha):
    return LIFRefracParameters(LIFParameters(method=method, alpha=alpha), rho_reset=2.0)


HAND = {  # the hand-derived adjoint (generic kernel backward)
    "lif_ff": (A.lif_feed_forward_adjoint_step, lif_feed_forward_step, _lif_p, _lif_ff),
    "lif_rec": (A.lif_adjoint_step, lif_step, _lif_p, _lif_rec),
    "lsnn_ff": (A.lsnn_feed_forward_adjoint_step, lsnn_feed_forward_step,
                lambda m, a: LSNNParameters(tau_adapt_inv=50.0, beta=0.5, method=m, alpha=a), _lsnn_ff),
    "lsnn_rec": (A.lsnn_adjoint_step, lsnn_step,
                 lambda m, a: LSNNParameters(tau_adapt_inv=50.0, beta=0.5, method=m, alpha=a), _lsnn_rec),
    "lif_refrac_ff": (A.lif_refrac_feed_forward_adjoint_step, lif_refrac_feed_forward_step, _refrac_p, _refrac_ff),
    "lif_refrac_rec": (A.lif_refrac_adjoint_step, lif_refrac_step, _refrac_p, _refrac_rec),
}
RECOMPUTED = {  # backward re-runs the step under autograd
    "lif_mc": (A.lif_mc_adjoint_step, lif_mc_step, _lif_p, _mc),
    "lif_mc_refrac": (A.lif_mc_refrac_adjoint, lif_mc_refrac_step, _refrac_p, _mc_refrac),
    "coba_lif": (A.coba_lif_adjoint_step, coba_lif_step, lambda m, a: CobaLIFParameters(method=m, alpha=a), _coba),
}


def _leaves(state, extra):
    """Fresh leaf copies (requiring gradients) of every state tensor and extra tensor."""
    flat, spec = tree_flatten(state)
    flat = [t.clone().requires_grad_() for t in flat]
    return tree_unflatten(flat, spec), [t.clone().requires_grad_() for t in extra], flat


def _run(step, case, p, seed=0):
    """T steps from the case's inputs; returns (spikes, final state, gradients of a loss that
    weighs every output and final state field to the input, each state tensor and weight)."""
    x, state, extra = case
    x = x.clone().requires_grad_()
    state, extra, state_leaves = _leaves(state, extra)
    torch.manual_seed(seed)  # the stochastic logistic threshold draws the same spikes
    outputs = []
    s = state
    for t in range(x.shape[0]):
        z, s = step(x[t], s, *extra, p)
        outputs.append(z)
    spikes = torch.stack(outputs)
    weight = torch.linspace(-1.0, 2.0, spikes.numel(), dtype=F64).reshape(spikes.shape)
    loss = (spikes * weight).sum() + sum((k + 1) * 0.1 * (t * t).sum() for k, t in enumerate(tree_flatten(s)[0]))
    grads = torch.autograd.grad(loss, [x, *state_leaves, *extra], allow_unused=True)
    return spikes, s, grads


def _assert_exact(ours, reference):
    for g, r in zip(ours, reference):
        if r is None:
            assert g is None or not g.any()
            continue
        scale = max(1.0, float(r.abs().max()))
        torch.testing.assert_close(g, r, rtol=1e-12, atol=1e-12 * scale)


def _assert_same(case_name, method, cases, seed):
    adjoint, reference, params, inputs = cases[case_name]
    gen = torch.Generator().manual_seed(seed)
    case = inputs(gen)
    p = params(method, _alpha(method))
    z_a, s_a, g_a = _run(adjoint, case, p)
    z_r, s_r, g_r = _run(reference, case, p)
    assert z_r.sum() > 0 and (1 - z_r).sum() > 0, "the case must spike and not spike"
    assert torch.equal(z_a, z_r)
    for a, r in zip(tree_flatten(s_a)[0], tree_flatten(s_r)[0]):
        assert torch.equal(a, r)
    _assert_exact(g_a, g_r)
    nonzero = [g for g in g_r if g is not None and g.abs().sum() > 0]
    assert g_r[0].abs().sum() > 0 and len(nonzero) >= 2  # gradients reach the input and more


@pytest.mark.parametrize("method", surrogate_methods())
@pytest.mark.parametrize("case", sorted(HAND))
def test_hand_adjoint_equals_autograd_float64(case, method):
    """Spikes and states bitwise those of our step; gradients to the input, every state
    tensor and the weights equal to autograd through it (float64, 1e-12), every surrogate."""
    _assert_same(case, method, HAND, seed=1)


@pytest.mark.parametrize("method", ["super", "triangle", "logistic"])
@pytest.mark.parametrize("case", sorted(RECOMPUTED))
def test_recomputed_adjoint_equals_autograd_float64(case, method):
    _assert_same(case, method, RECOMPUTED, seed=2)


def test_the_surrogate_reaches_the_gradient():
    """Different surrogates give different gradients (the backward uses p.method)."""
    adjoint, _, params, inputs = HAND["lif_ff"]
    case = inputs(torch.Generator().manual_seed(3))
    g_super = _run(adjoint, case, params("super", 100.0))[2][0]
    g_tri = _run(adjoint, case, params("triangle", 3.0))[2][0]
    assert not torch.allclose(g_super, g_tri)


# -- gradcheck: with the Heaviside threshold the step is differentiable away from the threshold

def _gradcheck_inputs(gen):
    x = _rand(gen, 2, N, high=8.0)
    v, i = _rand(gen, 2, N, low=-0.5, high=0.9), _rand(gen, 2, N, high=2.0)
    return x, v, i


@pytest.mark.parametrize("recurrent", [False, True])
def test_gradcheck_lif(recurrent):
    gen = torch.Generator().manual_seed(4)
    x, v, i = _gradcheck_inputs(gen)
    p = LIFParameters(method="heaviside")
    if recurrent:
        z = (_rand(gen, 2, N) > 0.5).double()
        w_in, w_rec = _weights(gen, N, N, scale=3.0), _weights(gen, N, N)
        args = [t.requires_grad_() for t in (x, z, v, i, w_in, w_rec)]
        assert A.LIFAdjointFunction.apply(*args, p)[0].sum() > 0
        assert torch.autograd.gradcheck(lambda *a: A.LIFAdjointFunction.apply(*a, p), args)
    else:
        args = [t.requires_grad_() for t in (x, v, i)]
        assert A.LIFFeedForwardAdjointFunction.apply(*args, p)[0].sum() > 0
        assert torch.autograd.gradcheck(lambda *a: A.LIFFeedForwardAdjointFunction.apply(*a, p), args)


def test_gradcheck_lsnn_refrac_and_coba():
    gen = torch.Generator().manual_seed(5)
    x, v, i = _gradcheck_inputs(gen)
    b = _rand(gen, 2, N, low=0.8, high=1.2)
    p = LSNNParameters(method="heaviside", tau_adapt_inv=50.0)
    args = [t.requires_grad_() for t in (x, v, i, b)]
    assert torch.autograd.gradcheck(lambda *a: A.LSNNFeedForwardAdjointFunction.apply(*a, p), args)
    rho = torch.tensor([[-0.5, 1.5, 2.5, -0.5], [-0.5, -0.5, 3.5, 1.5]], dtype=F64)  # away from the steps of Θ, relu
    pr = LIFRefracParameters(LIFParameters(method="heaviside"))
    args = [t.detach().clone().requires_grad_() for t in (x, v, i, rho)]
    assert torch.autograd.gradcheck(lambda *a: A.LIFAdjointRefracFeedForwardFunction.apply(*a, pr), args)
    _, state, (w_in, w_rec) = _coba(gen)
    xc = _weights(gen, B, N_IN, scale=2.0)
    pc = CobaLIFParameters(method="heaviside")
    args = [t.requires_grad_() for t in (xc, *state, w_in, w_rec)]
    assert torch.autograd.gradcheck(lambda *a: A.CobaLIFAdjointFunction.apply(*a, pc), args)


# -- memory constant in T ----------------------------------------------------------------------

SEQUENCES = {
    "lif": (A.lif_feed_forward_adjoint, lif_feed_forward_step, lambda m: LIFParameters(method=m),
            lambda: LIFFeedForwardState(torch.zeros(B, 64, dtype=F64), torch.zeros(B, 64, dtype=F64))),
    "lif_box": (A.lif_box_feed_forward_adjoint, lif_box_feed_forward_step, lambda m: LIFBoxParameters(method=m),
                lambda: LIFBoxFeedForwardState(torch.zeros(B, 64, dtype=F64))),
    "lif_box_subtract": (A.lif_box_feed_forward_adjoint, lif_box_feed_forward_step,
                         lambda m: LIFBoxParameters(method=m, reset_method="subtract"),
                         lambda: LIFBoxFeedForwardState(torch.zeros(B, 64, dtype=F64))),
    "lsnn": (A.lsnn_feed_forward_adjoint, lsnn_feed_forward_step, lambda m: LSNNParameters(method=m, tau_adapt_inv=50.0),
             lambda: LSNNFeedForwardState(*(torch.full((B, 64), f, dtype=F64) for f in (0.0, 0.0, 1.0)))),
    "lif_refrac": (A.lif_refrac_feed_forward_adjoint, lif_refrac_feed_forward_step,
                   lambda m: LIFRefracParameters(LIFParameters(method=m), rho_reset=3.0),
                   lambda: LIFRefracFeedForwardState(
                       LIFFeedForwardState(torch.zeros(B, 64, dtype=F64), torch.zeros(B, 64, dtype=F64)),
                       torch.zeros(B, 64, dtype=F64))),
}


def _sequence(name, steps, method, step=None):
    function, reference, params, initial = SEQUENCES[name]
    x = (4.0 * torch.rand(steps, B, 64, generator=torch.Generator().manual_seed(6), dtype=F64)).requires_grad_()
    state, _, leaves = _leaves(initial(), ())
    torch.manual_seed(0)
    if step is None:
        spikes, final = function(x, state, params(method))
    else:
        outputs, final = [], state
        for t in range(steps):
            z, final = step(x[t], final, params(method))
            outputs.append(z)
        spikes = torch.stack(outputs)
    weight = torch.linspace(-1.0, 2.0, spikes.numel(), dtype=F64).reshape(spikes.shape)
    loss = (spikes * weight).sum() + sum((t * t).sum() for t in tree_flatten(final)[0])
    return spikes, torch.autograd.grad(loss, [x, *leaves])


@pytest.mark.parametrize("method", ["super", "logistic"])
@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_sequence_adjoint_equals_bptt_float64(name, method):
    """The sequence-level adjoint (C++ loop or portable kernel: logistic) gives the spikes and
    gradients of backpropagation through the step loop."""
    spikes, grads = _sequence(name, 40, method)
    spikes_ref, grads_ref = _sequence(name, 40, method, step=SEQUENCES[name][1])
    assert spikes_ref.sum() > 0 and torch.equal(spikes, spikes_ref)
    _assert_exact(grads, grads_ref)


def _unavailable(reason):
    """Skips, except under ``CI=true``, where the C++ loops must build."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true, but {reason}: the C++ loops must build in CI", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def cpp_loops():
    from norse_core.fused import cpp

    if os.environ.get("NORSE_CORE_NO_EXTENSION"):
        _unavailable("NORSE_CORE_NO_EXTENSION is set")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not cpp.build():
            _unavailable(f"the C++ fused loops are unavailable ({cpp.error()})")
    return cpp


def _saved_bytes(name, steps, method="super"):
    """Bytes saved for backward by the sequence-level adjoint, and the input's bytes."""
    function, _, params, initial = SEQUENCES[name]
    x = torch.rand(steps, B, 64, dtype=F64, requires_grad=True)
    state, _, _ = _leaves(initial(), ())
    total = [0]

    def pack(t):
        total[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        function(x, state, params(method))
    return total[0], x.numel() * x.element_size()


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_sequence_memory_does_not_grow_with_steps(cpp_loops, name):
    """Beyond the input itself, what is saved for backward is the same for T = 50 and 400."""
    (short, x_short), (long, x_long) = _saved_bytes(name, 50), _saved_bytes(name, 400)
    assert short - x_short == long - x_long
    assert long - x_long <= 4 * B * 64 * 8  # the initial state, nothing per step


def test_portable_sequence_saves_per_step():
    """The documented fallback (a surrogate the C++ loop lacks): ``v_d`` and the spikes of
    every step, i.e. it grows with T (so the constant-memory test above can fail)."""
    (short, _), (long, _) = _saved_bytes("lif", 50, "logistic"), _saved_bytes("lif", 400, "logistic")
    assert long - short >= 2 * 350 * B * 64 * 8


# -- Norse's calls, paths and errors ----------------------------------------------------------------

def test_norse_positional_calls():
    """As Norse's tests call them: a (1, 10) input on (10,) states, positional weights."""
    x = torch.ones(1, 10)
    w_in, w_rec = torch.randn(10, 10), torch.randn(10, 10)
    s = LIFState(torch.zeros(10), torch.zeros(10), torch.zeros(10))
    sf = LIFFeedForwardState(torch.zeros(10), torch.zeros(10))
    sr = LIFRefracState(s, 5 * torch.ones(10))
    for _ in range(20):
        z, s = A.lif_adjoint_step(x, s, w_in, w_rec)
        _, sf = A.lif_feed_forward_adjoint_step(x, sf)
        _, sr = A.lif_refrac_adjoint_step(x, sr, w_in, w_rec)
    assert z.shape == (1, 10) and sf.v.shape == (1, 10) and sr.rho.shape == (1, 10)
    s4 = LSNNState(*(torch.zeros(10),) * 4)
    z, s4 = A.lsnn_adjoint_step(torch.ones(10), s4, w_in, w_rec)
    assert z.shape == (10,)
    z, v, i = A.LIFFeedForwardAdjointFunction.apply(x, torch.zeros(10), torch.zeros(10))  # p, dt default
    assert torch.equal(v, lif_feed_forward_step(x, LIFFeedForwardState(torch.zeros(10), torch.zeros(10)))[1].v)


def test_broadcast_state_gets_summed_gradient():
    v = torch.zeros(4, dtype=F64, requires_grad=True)
    x = torch.rand(3, 4, dtype=F64)
    _, s = A.lif_feed_forward_adjoint_step(x, LIFFeedForwardState(v, torch.zeros(4, dtype=F64)))
    (g,) = torch.autograd.grad(s.v.sum(), v)
    v2 = v.detach().clone().requires_grad_()
    _, s2 = lif_feed_forward_step(x, LIFFeedForwardState(v2, torch.zeros(4, dtype=F64)))
    (g2,) = torch.autograd.grad(s2.v.sum(), v2)
    assert g.shape == (4,)
    _assert_exact([g], [g2])


def test_sparse_variants_equal_dense():
    gen = torch.Generator().manual_seed(7)
    x, state, (w_in, w_rec) = _lif_rec(gen)
    p = LIFParameters(alpha=10.0)
    z_d, s_d = A.lif_adjoint_step(x[0], state, w_in, w_rec, p)
    z_s, s_s = A.lif_adjoint_step_sparse(x[0].to_sparse(), state._replace(z=state.z.to_sparse()), w_in, w_rec, p)
    assert z_s.is_sparse and s_s.z.is_sparse and torch.equal(z_s.to_dense(), z_d) and torch.equal(s_s.v, s_d.v)
    sf = LIFFeedForwardState(state.v, state.i)
    z_f, _ = A.lif_feed_forward_adjoint_step_sparse(x[0, :, :N].to_sparse(), sf, p)
    assert not z_f.is_sparse and torch.equal(z_f, A.lif_feed_forward_adjoint_step(x[0, :, :N], sf, p)[0])
    rs = LIFRefracState(state, _rho(gen))
    v = rs.lif.v.clone().requires_grad_()
    z_r, s_r = A.lif_refrac_adjoint_step_sparse(x[0].to_sparse(), LIFRefracState(rs.lif._replace(v=v), rs.rho),
                                               w_in, w_rec, LIFRefracParameters(p))
    z_rd, s_rd = A.lif_refrac_adjoint_step(x[0], rs, w_in, w_rec, LIFRefracParameters(p))
    assert z_r.is_sparse and torch.equal(z_r.to_dense(), z_rd) and torch.equal(s_r.lif.v, s_rd.lif.v)
    (g,) = torch.autograd.grad(s_r.lif.v.sum(), v)  # gradients reach the tensors of the LIF state
    assert g.abs().sum() > 0


@pytest.mark.parametrize("module, ours", [
    ("lif_adjoint", "lif"), ("lif_refrac_adjoint", "lif_refrac"), ("lsnn_adjoint", "lsnn"),
    ("lif_mc_adjoint", "lif_mc"), ("lif_mc_refrac_adjoint", "lif_mc"), ("coba_lif_adjoint", "coba_lif"),
])
def test_norse_module_paths(module, ours):
    alias = importlib.import_module(f"norse_core.functional.adjoint.{module}")
    assert alias is importlib.import_module(f"norse_core.functional.adjoint.{ours}")


def test_top_level_names():
    for name in ("lif_feed_forward_adjoint_step", "lif_feed_forward_adjoint_step_sparse", "LIFFeedForwardAdjointFunction",
                 "LIFFeedForwardSparseAdjointFunction", "lif_refrac_feed_forward_adjoint_step",
                 "LIFAdjointRefracFeedForwardFunction", "lsnn_feed_forward_adjoint_step", "LSNNFeedForwardAdjointFunction"):
        assert getattr(snn, name) is getattr(A, name)


def test_signatures_match_norse():
    """Every function of Norse's adjoint modules has our parameter names, in order, with
    defaults where Norse has them (Norse's coba module does not import; skipped)."""
    pytest.importorskip("norse.torch", reason="compares with Norse 1.1.0: pip install -e '.[bench]'")
    checked = 0
    for module in ("lif_adjoint", "lif_refrac_adjoint", "lsnn_adjoint", "lif_mc_adjoint", "lif_mc_refrac_adjoint"):
        theirs = importlib.import_module(f"norse.torch.functional.adjoint.{module}")
        ours = importlib.import_module(f"norse_core.functional.adjoint.{module}")
        for name, fn in vars(theirs).items():
            if inspect.isfunction(fn) and fn.__module__ == theirs.__name__:
                a, b = inspect.signature(getattr(ours, name)).parameters, inspect.signature(fn).parameters
                assert list(a) == list(b), name
                assert [p.default is inspect.Parameter.empty for p in a.values()][:-2] == [
                    p.default is inspect.Parameter.empty for p in b.values()][:-2], name
                checked += 1
    assert checked == 11


def test_trainable_parameters_are_refused():
    p = LIFParameters(tau_mem_inv=torch.tensor(100.0, requires_grad=True))
    with pytest.raises(ValueError, match="tau_mem_inv"):
        A.lif_feed_forward_adjoint_step(torch.ones(3), LIFFeedForwardState(torch.zeros(3), torch.zeros(3)), p)
    with pytest.raises(ValueError, match="input_sequence"):
        A.lif_feed_forward_adjoint(torch.ones(0, 3), LIFFeedForwardState(torch.zeros(3), torch.zeros(3)))


def test_states_given_as_numbers():
    """As in Norse, ``LIFFeedForwardState(v=0.0, i=0.0)`` broadcasts."""
    x = torch.rand(2, 3, dtype=F64, requires_grad=True)
    z, s = A.lif_feed_forward_adjoint_step(x, LIFFeedForwardState(0.0, 0.0))
    _, ref = lif_feed_forward_step(x, LIFFeedForwardState(0.0, 0.0))
    assert torch.equal(s.v, ref.v)
    (g,) = torch.autograd.grad(s.v.sum() + s.i.sum(), x)
    (g_ref,) = torch.autograd.grad(ref.v.sum() + ref.i.sum(), x)
    _assert_exact([g], [g_ref])
    spikes, final = A.lif_feed_forward_adjoint(x[None], LIFFeedForwardState(0.0, 0.0))
    assert spikes.shape == (1, 2, 3) and torch.equal(final.v, ref.v)
