"""e-prop (norse_core.EProp, norse_core.functional.eprop) against BPTT, against its definition
computed naively, and its bookkeeping: trace resets, memory, online updates, options."""

from __future__ import annotations

import gc
import warnings

import pytest
import torch

import norse_core as snn
from norse_core.functional.eprop import eligibility_traces, lsnn_eligibility_step

T, B, I, H, K = 14, 3, 5, 4, 2
FILTER = snn.LIParameters(tau_syn_inv=300.0, tau_mem_inv=150.0, v_leak=0.1)


def _parameters(kind: str):
    """Parameters that make the neurons spike within a few steps; some per neuron (tensors),
    so the traces' broadcasting over the presynaptic dimension is exercised."""
    if kind == "lif":
        return snn.LIFParameters(
            tau_syn_inv=200.0, tau_mem_inv=torch.tensor([80.0, 100.0, 120.0, 150.0], dtype=torch.float64),
            v_th=0.3, method="super", alpha=10.0,
        )
    return snn.LSNNParameters(
        tau_syn_inv=200.0, tau_mem_inv=100.0, tau_adapt_inv=50.0, v_th=0.3,
        beta=torch.tensor([0.0, 0.5, 1.0, 1.5], dtype=torch.float64), method="super", alpha=10.0,
    )


def _network(kind: str, recurrent: float, seed: int = 0):
    torch.manual_seed(seed)
    layer_type = snn.LIFRecurrent if kind == "lif" else snn.LSNNRecurrent
    layer = layer_type(I, H, _parameters(kind), fused=False).double()
    with torch.no_grad():
        layer.input_weights.mul_(3.0)
        layer.recurrent_weights.mul_(recurrent)
    readout = torch.nn.Linear(H, K).double()
    return layer, readout


def _problem(seed: int = 1):
    """Inputs, targets, per-step weights of the output loss (0 at some steps) and a linear
    loss on the spikes: ``E = Σ_t w_t/2 |y^t - y*^t|^2 + Σ_t c·z^t``."""
    g = torch.Generator().manual_seed(seed)
    inputs = (torch.rand(T, B, I, generator=g) < 0.4).double()
    targets = torch.randn(T, B, K, generator=g, dtype=torch.float64)
    weights = (torch.rand(T, generator=g) < 0.7).double()
    spike_cost = torch.randn(H, generator=g, dtype=torch.float64) * 0.1
    return inputs, targets, weights, spike_cost


def _eprop_grads(layer, readout, problem, readout_filter=FILTER, feedback="symmetric", **options):
    inputs, targets, weights, spike_cost = problem
    learner = snn.EProp(layer, readout, readout_filter, feedback=feedback, **options)
    for parameter in (*layer.parameters(), *readout.parameters()):
        parameter.grad = None
    outputs = []

    def output_error(t, y):
        outputs.append(y)
        return None if weights[t] == 0 else weights[t] * (y - targets[t])

    learner.run(inputs, output_error, lambda t, z: spike_cost.expand_as(z))
    grads = [p.grad.clone() for p in (layer.input_weights, layer.recurrent_weights, readout.weight, readout.bias)]
    return grads, torch.stack(outputs), learner


def _autograd_grads(layer, readout, problem, cut_recurrence: bool):
    """BPTT by autograd through the step loop; with ``cut_recurrence`` the spikes entering the
    next step's recurrent input are detached (e-prop's truncation, as an autograd graph)."""
    inputs, targets, weights, spike_cost = problem
    step = snn.lif_step if isinstance(layer, snn.LIFRecurrent) else snn.lsnn_step
    for parameter in (*layer.parameters(), *readout.parameters()):
        parameter.grad = None
    state = layer.initial_state(inputs[0])
    recurrent = layer.recurrent_weights * (1 - torch.eye(H, dtype=torch.float64))
    spikes = []
    for x in inputs:
        if cut_recurrence:
            state = state._replace(z=state.z.detach())
        z, state = step(x, state, layer.input_weights, recurrent, layer.p, layer.dt)
        spikes.append(z)
    spikes = torch.stack(spikes)
    li = snn.LI(FILTER, dt=layer.dt, fused=False)
    y, _ = li(readout(spikes))
    loss = (weights[:, None, None] * 0.5 * (y - targets) ** 2).sum() + (spikes * spike_cost).sum()
    loss.backward()
    grads = [p.grad.clone() for p in (layer.input_weights, layer.recurrent_weights, readout.weight, readout.bias)]
    return grads, y.detach(), spikes.detach()


def _close(a, b):
    return all(torch.allclose(x, y, rtol=0, atol=1e-10) for x, y in zip(a, b))


@pytest.mark.parametrize("kind", ["lif", "lsnn"])
def test_eprop_equals_bptt_without_recurrent_weights(kind):
    """Recurrent weights zero: e-prop drops only the gradient paths through other neurons'
    spikes into the recurrent input, which carry ``W_rec^T (...) = 0`` here; every path inside
    a neuron (membrane, synaptic current, the LSNN threshold jump ``beta*z``) is in the
    eligibility traces, and the readout filter's in ``F(e)``. So the truncated gradient is
    exact, for all time constants (no one-step restriction needed), and e-prop equals BPTT
    through the module's own step loop (autograd) for every weight, ``W_rec`` included."""
    layer, readout = _network(kind, recurrent=0.0)
    problem = _problem()
    eprop, outputs, _ = _eprop_grads(layer, readout, problem)
    # BPTT through the module (its step loop, not the e-prop forward)
    for parameter in (*layer.parameters(), *readout.parameters()):
        parameter.grad = None
    inputs, targets, weights, spike_cost = problem
    spikes, _ = layer(inputs)
    y, _ = snn.LI(FILTER, dt=layer.dt, fused=False)(readout(spikes))
    loss = (weights[:, None, None] * 0.5 * (y - targets) ** 2).sum() + (spikes * spike_cost).sum()
    loss.backward()
    bptt = [p.grad for p in (layer.input_weights, layer.recurrent_weights, readout.weight, readout.bias)]
    assert 0 < spikes.mean() < 0.9  # the neurons spike, and not always
    assert torch.allclose(outputs, y.detach(), rtol=0, atol=1e-12)  # the same forward
    assert all(g.abs().max() > 1e-3 for g in bptt[:1] + bptt[2:])  # non-trivial gradients
    assert bptt[1].abs().max() > 1e-3  # W_rec's gradient is not zero even at W_rec = 0
    assert _close(eprop, bptt)


def _naive_eprop(layer, readout, problem, feedback):
    """e-prop by its definition, without recursions: the eligibility trace of every step is
    the explicit sum ``e^t = ψ^t [dz^t/ds^{t-1} Σ_{t'<t} (J^{t-1} ... J^{t'+1}) m^{t'} + a p^t]``
    over the per-neuron state Jacobians ``J`` (state ``(v, i, b)``) and immediate derivatives
    ``m``, filtered by the readout's impulse response ``h``: ``F(e)^t = Σ_{t'<=t} h_{t-t'} e^{t'}``;
    the gradient is ``Σ_t L^t F(e)^t + (∂E/∂z^t) e^t``. The forward quantities come from a
    plain recording of the layer; the equations are written here from the neuron model."""
    inputs, targets, weights, spike_cost = problem
    p, dt = layer.p, layer.dt
    lsnn = isinstance(p, snn.LSNNParameters)
    a = (dt * torch.as_tensor(p.tau_mem_inv, dtype=torch.float64)).expand(H)
    c = (dt * torch.as_tensor(p.tau_syn_inv, dtype=torch.float64)).expand(H)
    r = (dt * torch.as_tensor(p.tau_adapt_inv if lsnn else 0.0, dtype=torch.float64)).expand(H)
    beta = torch.as_tensor(p.beta if lsnn else 0.0, dtype=torch.float64).expand(H)
    # forward: record v_d - threshold, spikes, readout
    recurrent = layer.recurrent_weights.detach() * (1 - torch.eye(H, dtype=torch.float64))
    v = torch.zeros(B, H, dtype=torch.float64)
    i = torch.zeros_like(v)
    b = torch.full_like(v, p.v_th)
    z = torch.zeros_like(v)
    distances, spikes, presynaptic = [], [], {"input": [], "recurrent": []}
    for x in inputs:
        presynaptic["input"].append(x)
        presynaptic["recurrent"].append(z)
        i_jump = i + x @ layer.input_weights.detach().T + z @ recurrent.T
        v_d = v + a * (-v + i_jump)
        b_d = b + r * (p.v_th - b)
        distance = v_d - (b_d if lsnn else p.v_th)
        z = (distance > 0).double()
        v, i, b = (1 - z) * v_d, (1 - c) * i_jump, b_d + beta * z
        distances.append(distance)
        spikes.append(z)
    psi = [1.0 / (p.alpha * d.abs() + 1.0) ** 2 for d in distances]  # SuperSpike
    # the readout's impulse response h_k, and y
    h, (hv, hi) = [], (0.0, 0.0)
    for k in range(T):
        hi_j = hi + (1.0 if k == 0 else 0.0)
        hv, hi = hv + FILTER.tau_mem_inv * dt * (-hv + hi_j), (1 - FILTER.tau_syn_inv * dt) * hi_j
        h.append(hv)
    W_out, bias = readout.weight.detach(), readout.bias.detach()
    y = [FILTER.v_leak + sum(h[t - s] * (spikes[s] @ W_out.T + bias) for s in range(t + 1)) for t in range(T)]
    # leak of the initial readout voltage v_leak: it stays (v_leak is the fixed point)
    errors = [weights[t] * (y[t] - targets[t]) for t in range(T)]
    feedback_matrix = W_out if feedback is None else feedback
    grads = []
    for name in ("input", "recurrent"):
        P = presynaptic[name][0].shape[1]
        jac, imm, dz_ds = [], [], []
        for t in range(T):
            zt, pt, pre = spikes[t], psi[t], presynaptic[name][t]
            d = torch.stack([pt * (1 - a), pt * a, -pt * (1 - r) * float(lsnn)], -1)  # (B, H, 3)
            J = torch.zeros(B, H, 3, 3, dtype=torch.float64)
            J[..., 0, 0], J[..., 0, 1] = (1 - zt) * (1 - a), (1 - zt) * a
            J[..., 1, 1] = 1 - c
            J[..., 2, :] = beta[:, None] * d
            J[..., 2, 2] += 1 - r
            m = torch.zeros(B, H, P, 3, dtype=torch.float64)
            m[..., 0] = ((1 - zt) * a)[..., None] * pre[:, None, :]
            m[..., 1] = (1 - c)[:, None] * pre[:, None, :]
            m[..., 2] = (beta * pt * a)[..., None] * pre[:, None, :]
            jac.append(J)
            imm.append(m)
            dz_ds.append(d)
        e = []
        for t in range(T):
            total = torch.zeros(B, H, P, 3, dtype=torch.float64)
            for s in range(t):
                product = imm[s]
                for u in range(s + 1, t):
                    product = torch.einsum("bhxy,bhpy->bhpx", jac[u], product)
                total = total + product
            pre = presynaptic[name][t]
            e.append(torch.einsum("bhx,bhpx->bhp", dz_ds[t], total) + (psi[t] * a)[..., None] * pre[:, None, :])
        gradient = torch.zeros(H, P, dtype=torch.float64)
        for t in range(T):
            filtered = sum(h[t - s] * e[s] for s in range(t + 1))
            signal = errors[t] @ feedback_matrix
            gradient += torch.einsum("bh,bhp->hp", signal, filtered)
            gradient += torch.einsum("h,bhp->hp", spike_cost, e[t])
        grads.append(gradient * (1 - torch.eye(H, dtype=torch.float64)) if name == "recurrent" else gradient)
    filtered_spikes = [sum(h[t - s] * spikes[s] for s in range(t + 1)) for t in range(T)]
    grads.append(sum(errors[t].T @ filtered_spikes[t] for t in range(T)))
    grads.append(sum(errors[t].sum(0) * sum(h[: t + 1]) for t in range(T)))
    return grads, torch.stack(y)


@pytest.mark.parametrize("kind", ["lif", "lsnn"])
def test_eprop_equals_its_definition_with_recurrence(kind):
    """With recurrent weights, e-prop is not BPTT; it equals (a) its definition written out
    as explicit sums over Jacobian products (:func:`_naive_eprop`) and (b) autograd through
    the step loop with the recurrent spikes detached, for symmetric and random feedback."""
    layer, readout = _network(kind, recurrent=1.5)
    problem = _problem()
    eprop, outputs, learner = _eprop_grads(layer, readout, problem)
    naive, y = _naive_eprop(layer, readout, problem, None)
    assert torch.allclose(outputs, y, rtol=0, atol=1e-12)
    assert _close(eprop, naive)
    cut, _, spikes = _autograd_grads(layer, readout, problem, cut_recurrence=True)
    assert _close(eprop, cut)
    bptt, _, _ = _autograd_grads(layer, readout, problem, cut_recurrence=False)
    assert not _close(eprop[:2], bptt[:2])  # the recurrence matters here: the test can fail
    assert 0 < spikes.mean() < 0.9
    random, _, learner = _eprop_grads(layer, readout, problem, feedback="random")
    naive_random, _ = _naive_eprop(layer, readout, problem, learner.feedback_weights)
    assert _close(random, naive_random)


def test_feedback_symmetric_or_random():
    """Random feedback replaces ``W_out`` by a fixed matrix in the learning signal only: the
    hidden weights' gradients differ, the readout's own (exact) gradient does not; a random
    learner whose matrix is set to ``W_out`` gives the symmetric gradients."""
    layer, readout = _network("lsnn", recurrent=1.0)
    problem = _problem()
    options = dict(feedback="random", generator=torch.Generator().manual_seed(3))
    random, _, learner = _eprop_grads(layer, readout, problem, **options)
    symmetric, _, _ = _eprop_grads(layer, readout, problem)
    assert learner.feedback_weights.shape == (K, H) and "feedback_weights" in learner.state_dict()
    assert not _close(random[:2], symmetric[:2])
    assert _close(random[2:], symmetric[2:])
    again = snn.EProp(layer, readout, FILTER, feedback="random", generator=torch.Generator().manual_seed(3))
    assert torch.equal(again.feedback_weights, learner.feedback_weights)  # fixed by the generator
    assert "feedback_weights" not in snn.EProp(layer, readout).state_dict()
    inputs, targets, weights, spike_cost = problem
    with torch.no_grad():
        again.feedback_weights.copy_(readout.weight)
    for parameter in (*layer.parameters(), *readout.parameters()):
        parameter.grad = None
    again.run(inputs, lambda t, y: weights[t] * (y - targets[t]), lambda t, z: spike_cost.expand_as(z))
    assert _close([layer.input_weights.grad, layer.recurrent_weights.grad], symmetric[:2])


def test_traces_restart_with_every_sequence():
    """Two sequences in a row (one learner) give each sequence's gradient alone, and the
    gradients of the two add up in ``.grad`` when not zeroed in between."""
    layer, readout = _network("lsnn", recurrent=1.0)
    first, second = _problem(1), _problem(2)
    alone, _, _ = _eprop_grads(layer, readout, second)
    g_first, _, learner = _eprop_grads(layer, readout, first)
    params = (layer.input_weights, layer.recurrent_weights, readout.weight, readout.bias)
    inputs, targets, weights, spike_cost = second
    learner.run(inputs, lambda t, y: weights[t] * (y - targets[t]), lambda t, z: spike_cost.expand_as(z))
    assert _close([p.grad - g for p, g in zip(params, g_first)], alone)
    for p in params:
        p.grad = None
    learner.run(inputs, lambda t, y: weights[t] * (y - targets[t]), lambda t, z: spike_cost.expand_as(z))
    assert all(torch.equal(p.grad, g) for p, g in zip(params, alone))


def _live_tensors() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if issubclass(type(o), torch.Tensor))


def test_memory_does_not_grow_with_the_sequence_length():
    """The live tensors at the last step of a sequence are as many at T = 1000 as at T = 100
    (a per-step tensor kept would add hundreds), and nothing builds an autograd graph. (A chunk
    size that divides both lengths: the last step is then at the same place of its chunk.)"""
    layer, readout = _network("lsnn", recurrent=1.0)
    learner = snn.EProp(layer, readout, FILTER, chunk_size=20)
    counts = {}
    for steps in (100, 1000):
        inputs = (torch.rand(steps, B, I, generator=torch.Generator().manual_seed(0)) < 0.3).double()

        def output_error(t, y, steps=steps):
            assert not y.requires_grad and y.grad_fn is None
            if t == steps - 1:
                counts[steps] = _live_tensors()
            return y - 1.0

        learner.run(inputs, output_error, lambda t, z: z * 0.01)
        del inputs
    assert counts[1000] <= counts[100]
    assert all(t.grad_fn is None for t in learner._traces if t is not None)


def test_online_updates_every_k_steps():
    """``update_every=K`` calls ``on_update`` (here an optimizer step) T/K times per sequence,
    after steps K, 2K, ...; the weights change within the sequence and the following steps use
    them; the first K steps' gradient equals that of a sequence of K steps."""
    layer, readout = _network("lsnn", recurrent=1.0)
    inputs, targets, weights, spike_cost = _problem()
    optimizer = torch.optim.SGD([*layer.parameters(), *readout.parameters()], lr=0.1)
    calls, first_grad = [], []

    def on_update(t):
        calls.append(t)
        if t == 7:
            first_grad.append(layer.input_weights.grad.clone())
        optimizer.step()
        optimizer.zero_grad()

    before = layer.input_weights.detach().clone()
    learner = snn.EProp(layer, readout, FILTER, update_every=7, on_update=on_update)
    optimizer.zero_grad()
    learner.run(inputs, lambda t, y: y - targets[t])
    assert calls == [7, 14] and len(calls) == T // 7
    assert not torch.equal(layer.input_weights, before)
    with torch.no_grad():
        layer.input_weights.copy_(before)
    # the first update's gradient is that of the first 7 steps alone (with the initial weights)
    layer2, readout2 = _network("lsnn", recurrent=1.0)
    layer2.input_weights.grad = None
    snn.EProp(layer2, readout2, FILTER).run(inputs[:7], lambda t, y: y - targets[t])
    assert torch.allclose(first_grad[0], layer2.input_weights.grad, rtol=0, atol=1e-12)
    # without update_every, on_update is never called
    snn.EProp(layer, readout, FILTER, on_update=on_update).run(inputs, lambda t, y: y - targets[t])
    assert calls == [7, 14]


def test_bad_options_are_named():
    layer, readout = _network("lif", recurrent=1.0)
    with pytest.raises(ValueError, match="feedback must be one of symmetric, random, got 'transpose'"):
        snn.EProp(layer, readout, feedback="transpose")
    with pytest.raises(ValueError, match="update_every must be a positive int or None, got 0"):
        snn.EProp(layer, readout, update_every=0, on_update=lambda t: None)
    with pytest.raises(ValueError, match="update_every=5 needs on_update"):
        snn.EProp(layer, readout, update_every=5)
    with pytest.raises(TypeError, match="layer must be a LIFRecurrent or LSNNRecurrent layer .*got LIF$"):
        snn.EProp(snn.LIF(), readout)
    with pytest.raises(ValueError, match=r"readout must be a torch.nn.Linear\(4, out\), got Linear\(3, 2\)"):
        snn.EProp(layer, torch.nn.Linear(3, 2))
    with pytest.raises(TypeError, match="readout_filter must be LIParameters or None, got LIFParameters"):
        snn.EProp(layer, readout, snn.LIFParameters())
    with pytest.raises(ValueError, match="trainable neuron parameters \\['tau_mem_inv'\\]"):
        snn.EProp(snn.LIFRecurrent(I, H, trainable=("tau_mem_inv",)), torch.nn.Linear(H, K))
    with pytest.raises(ValueError, match="inputs must be a tensor \\(T, batch, input_size\\), got \\(5, 3\\)"):
        snn.EProp(layer, readout).run(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="chunk_size must be a positive int, got 0"):
        snn.EProp(layer, readout, chunk_size=0)
    with pytest.raises(ValueError, match="compiled must be None, True or False, got 'yes'"):
        snn.EProp(layer, readout, compiled="yes")
    with pytest.raises(ValueError, match="reset_method must be 'value' or 'subtract' .*got <function"):
        odd = snn.LIFRecurrent(I, H, snn.LIFParameters(reset_method=lambda z, v, r, th: v * (1 - z)))
        snn.EProp(odd, torch.nn.Linear(H, K))
    with pytest.raises(ValueError, match="traces.b is None"):
        x = torch.zeros(B, I)
        lsnn_eligibility_step(eligibility_traces(x, H, adaptive=False), x, torch.zeros(B, H), torch.zeros(B, H),
                              snn.LSNNParameters())


def test_without_a_readout_filter_the_readout_is_linear():
    """``readout_filter=None``: ``y^t = W_out z^t + b``, and e-prop (recurrent weights zero)
    equals BPTT on that loss."""
    layer, readout = _network("lif", recurrent=0.0)
    inputs, targets, weights, spike_cost = problem = _problem()
    eprop, outputs, _ = _eprop_grads(layer, readout, problem, readout_filter=None)
    for parameter in (*layer.parameters(), *readout.parameters()):
        parameter.grad = None
    spikes, _ = layer(inputs)
    y = readout(spikes)
    ((weights[:, None, None] * 0.5 * (y - targets) ** 2).sum() + (spikes * spike_cost).sum()).backward()
    assert torch.allclose(outputs, y.detach(), rtol=0, atol=1e-12)
    assert _close(eprop, [p.grad for p in (layer.input_weights, layer.recurrent_weights, readout.weight, readout.bias)])


@pytest.fixture(scope="module")
def compiled_loops():
    from norse_core.functional import eprop_cpp

    if eprop_cpp.disabled():
        pytest.skip("NORSE_CORE_NO_EXTENSION is set")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not eprop_cpp.build():
            pytest.skip(f"the compiled e-prop loops are unavailable ({eprop_cpp.error()})")
    return eprop_cpp


def test_short_sequences_load_a_cached_build_but_never_compile(compiled_loops, fake_extension_cache):
    """Below MIN_NUMEL_TO_BUILD neuron-steps nothing is compiled, but a build an earlier run
    cached is loaded and used."""
    eprop_cpp = compiled_loops
    loads = fake_extension_cache.use(eprop_cpp).loads
    small = eprop_cpp.MIN_NUMEL_TO_BUILD // 4
    assert not eprop_cpp.use(small, None) and loads == []
    fake_extension_cache.leave_library(eprop_cpp)
    assert eprop_cpp.use(small, None) and eprop_cpp.available()
    assert [load["name"] for load in loads] == [eprop_cpp._NAME]  # the cached library, loaded


@pytest.mark.parametrize("kind", ["lif", "lsnn"])
@pytest.mark.parametrize("readout_filter", [FILTER, None], ids=["filter", "linear"])
def test_chunks_and_compiled_loops_give_the_step_by_step_gradient(kind, readout_filter, compiled_loops):
    """Any chunk size (1: step by step; 5: chunks that do not divide T; 64: the whole
    sequence), the PyTorch and the compiled loops: the same outputs and gradients (1e-10,
    float64), with recurrence; ``per_chunk`` callbacks give what per-step ones give."""
    layer, readout = _network(kind, recurrent=1.5)
    problem = _problem()
    reference, outputs, _ = _eprop_grads(layer, readout, problem, readout_filter, chunk_size=1, compiled=False)
    assert all(g.abs().max() > 1e-3 for g in reference)
    for chunk_size in (1, 5, 64):
        for compiled in (False, True):
            grads, y, _ = _eprop_grads(layer, readout, problem, readout_filter, chunk_size=chunk_size, compiled=compiled)
            assert torch.allclose(y, outputs, rtol=0, atol=1e-12)
            assert _close(grads, reference), (chunk_size, compiled)
    inputs, targets, weights, spike_cost = problem
    learner = snn.EProp(layer, readout, readout_filter, chunk_size=5, compiled=True)
    for parameter in (*layer.parameters(), *readout.parameters()):
        parameter.grad = None
    learner.run(
        inputs,
        lambda steps, y: weights[steps.start:steps.stop, None, None] * (y - targets[steps.start:steps.stop]),
        lambda steps, z: spike_cost.expand_as(z),
        per_chunk=True,
    )
    params = (layer.input_weights, layer.recurrent_weights, readout.weight, readout.bias)
    assert _close([p.grad for p in params], reference)


@pytest.mark.parametrize("compiled", [False, True])
def test_subtract_reset(compiled, request):
    """``reset_method="subtract"``: ``v' = v_d - z v_th`` passes ``ε_v`` on unchanged (the
    detached spikes); with the recurrent weights zero e-prop equals BPTT, and the value reset's
    traces would not (the test can fail)."""
    if compiled:
        request.getfixturevalue("compiled_loops")
    layer, readout = _network("lsnn", recurrent=0.0)
    layer.p = layer.p._replace(reset_method="subtract")
    problem = _problem()
    eprop, outputs, _ = _eprop_grads(layer, readout, problem, compiled=compiled)
    for parameter in (*layer.parameters(), *readout.parameters()):
        parameter.grad = None
    inputs, targets, weights, spike_cost = problem
    spikes, _ = layer(inputs)
    y, _ = snn.LI(FILTER, dt=layer.dt, fused=False)(readout(spikes))
    ((weights[:, None, None] * 0.5 * (y - targets) ** 2).sum() + (spikes * spike_cost).sum()).backward()
    bptt = [p.grad for p in (layer.input_weights, layer.recurrent_weights, readout.weight, readout.bias)]
    assert 0 < spikes.mean() < 0.9
    assert torch.allclose(outputs, y.detach(), rtol=0, atol=1e-12)
    assert _close(eprop, bptt)
    layer.p = layer.p._replace(reset_method="value")  # the same spikes need not follow; the gradient differs
    value, _, _ = _eprop_grads(layer, readout, problem, compiled=compiled)
    assert not _close(value[:2], bptt[:2])


def test_without_the_compiled_loops(monkeypatch):
    """``NORSE_CORE_NO_EXTENSION=1``: ``compiled=None`` runs the PyTorch loops (the same
    gradients), ``compiled=True`` is refused with the reason."""
    layer, readout = _network("lsnn", recurrent=1.0)
    problem = _problem()
    reference, _, _ = _eprop_grads(layer, readout, problem, compiled=False)
    monkeypatch.setenv("NORSE_CORE_NO_EXTENSION", "1")
    grads, _, _ = _eprop_grads(layer, readout, problem)
    assert _close(grads, reference)
    with pytest.raises(RuntimeError, match="compiled=True, but the compiled loops are disabled by NORSE_CORE_NO_EXTENSION"):
        _eprop_grads(layer, readout, problem, compiled=True)
