"""e-prop (Bellec et al., Nature Communications 2020): gradients of recurrent LIF and LSNN
layers computed forward in time from eligibility traces and a learning signal.

For a weight ``W_ji`` whose presynaptic signal is ``p_i^t`` (``x_i^t`` for input weights,
``z_i^{t-1}`` for recurrent ones), the eligibility vectors ``ε`` are the derivatives of neuron
``j``'s state with respect to ``W_ji``, the other neurons' spikes held fixed. They follow the
neuron's own subthreshold dynamics (:func:`~norse_core.functional.lif.lif_subthreshold` with
``v_leak = 0``), driven by ``p``::

    q^t    = ε_i^{t-1} + p^t
    ε_vd^t = ε_v^{t-1} + dt*tau_mem_inv*(-ε_v^{t-1} + q^t)
    ε_i^t  = q^t - dt*tau_syn_inv*q^t
    LIF:   e^t = ψ^t ε_vd^t
    LSNN:  ε_bd^t = ε_b^{t-1} - dt*tau_adapt_inv*ε_b^{t-1}
           e^t = ψ^t (ε_vd^t - ε_bd^t);   ε_b^t = ε_bd^t + beta*e^t
    ε_v^t  = g^t ε_vd^t      (the reset's derivative, detached spikes: g = 1 - z; subtract: 1)

``e^t = ∂z^t/∂W`` is the eligibility trace and ``ψ^t`` the layer's surrogate derivative at
the argument of Θ (``v_d - v_th``; LSNN ``v_d - b_d``). With a leaky-integrator readout
``y = LI(W_out z + b)`` and the learning signal ``L^t = (∂E/∂y^t) B`` (``B = W_out``:
symmetric feedback; a fixed random matrix: random feedback)::

    dE/dW_ji = Σ_t Σ_batch  L_j^t F(e_ji)^t + (∂E/∂z_j^t) e_ji^t

where ``F`` is the readout's filter (the LI step with ``v_leak = 0``) and ``∂E/∂z^t`` a loss
term on the spikes themselves (e.g. a rate regulariser). The gradient is BPTT's except for
the paths through other neurons' spikes (the recurrent weights): with those at zero it is
exact. Shapes: traces ``(batch, hidden, pre)``; ``ε_i`` is ``(batch, 1, pre)`` while
``tau_syn_inv`` is shared by the neurons.

The step functions define e-prop; :func:`eligibility_chunk` computes K of their steps at once
(one backward recursion, :func:`trace_adjoint`, and matrix products; see the section "a chunk
of K steps" below), which is what :class:`norse_core.EProp` runs.
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Optional, Tuple, Union

import torch

from norse_core.functional.li import LIParameters, LIState, li_feed_forward_step
from norse_core.functional.lif import LIFParameters, lif_subthreshold
from norse_core.functional.lsnn import LSNNParameters, adaptive_threshold_decay


class EligibilityTraces(NamedTuple):
    """The eligibility vectors of one weight matrix: ``v`` and ``b`` ``(batch, hidden, pre)``,
    ``i`` ``(batch, 1 or hidden, pre)``; ``b`` is ``None`` for LIF neurons."""

    v: torch.Tensor
    i: torch.Tensor
    b: Optional[torch.Tensor] = None


def eligibility_traces(
    presynaptic: torch.Tensor, hidden_size: int, adaptive: bool
) -> EligibilityTraces:
    """Zero traces for a weight matrix ``(hidden_size, pre)`` whose presynaptic signal
    ``(batch, pre)`` is shaped like ``presynaptic`` (its dtype and device)."""
    batch, pre = presynaptic.shape
    v = presynaptic.new_zeros((batch, hidden_size, pre))
    return EligibilityTraces(v, presynaptic.new_zeros((batch, 1, pre)), v.clone() if adaptive else None)


def reset_gate(z: torch.Tensor, reset_method) -> torch.Tensor:
    """``∂v'/∂v_d`` with the detached spikes ``z``: ``1 - z`` for the reset to a value, ``1`` for
    the subtract reset (``v' = v_d - z*v_th``); a reset function has no known derivative."""
    if reset_method == "value":
        return 1 - z
    if reset_method == "subtract":
        return torch.ones_like(z)
    raise ValueError(
        f"e-prop: reset_method must be 'value' or 'subtract' (the traces need the reset's derivative), got {reset_method!r}"
    )


def _per_neuron(value):
    """A per-neuron parameter ``(..., hidden)`` as a column ``(..., hidden, 1)`` that broadcasts
    over the presynaptic dimension of the traces; numbers and 0-d tensors as they are."""
    return value.unsqueeze(-1) if isinstance(value, torch.Tensor) and value.dim() > 0 else value


def _trace_parameters(p: Union[LIFParameters, LSNNParameters]):
    """The neuron's parameters for its linearised dynamics: per-neuron values as columns,
    ``v_leak = 0`` and (LSNN) ``v_th = 0``."""
    fields = {name: _per_neuron(getattr(p, name)) for name in ("tau_mem_inv", "tau_syn_inv")}
    if isinstance(p, LSNNParameters):
        fields.update(tau_adapt_inv=_per_neuron(p.tau_adapt_inv), beta=_per_neuron(p.beta), v_th=0.0)
    return p._replace(v_leak=0.0, **fields)


def _membrane_traces(traces: EligibilityTraces, presynaptic: torch.Tensor, q, dt: float):
    return lif_subthreshold(traces.i + presynaptic.unsqueeze(-2), traces.v, q, dt)


def lif_eligibility_step(
    traces: EligibilityTraces,
    presynaptic: torch.Tensor,
    z: torch.Tensor,
    psi: torch.Tensor,
    p: LIFParameters,
    dt: float = 0.001,
) -> Tuple[torch.Tensor, EligibilityTraces]:
    """One step of a recurrent LIF layer's traces (module docstring): given the presynaptic
    signal ``p^t`` ``(batch, pre)``, the spikes ``z^t`` and the surrogate derivative ``ψ^t``
    ``(batch, hidden)``, returns ``(e^t, traces^t)``."""
    q = _trace_parameters(p)
    v_decayed, i_decayed = _membrane_traces(traces, presynaptic, q, dt)
    e = psi.unsqueeze(-1) * v_decayed
    return e, EligibilityTraces(reset_gate(z, p.reset_method).unsqueeze(-1) * v_decayed, i_decayed)


def lsnn_eligibility_step(
    traces: EligibilityTraces,
    presynaptic: torch.Tensor,
    z: torch.Tensor,
    psi: torch.Tensor,
    p: LSNNParameters,
    dt: float = 0.001,
) -> Tuple[torch.Tensor, EligibilityTraces]:
    """:func:`lif_eligibility_step` for an adaptive threshold: the threshold's eligibility
    vector ``ε_b`` (the paper's ``ε_a``) enters ``e^t = ψ^t (ε_vd^t - ε_bd^t)``."""
    if traces.b is None:
        raise ValueError("lsnn_eligibility_step: traces.b is None; build the traces with adaptive=True")
    q = _trace_parameters(p)
    v_decayed, i_decayed = _membrane_traces(traces, presynaptic, q, dt)
    b_decayed = adaptive_threshold_decay(traces.b, q, dt)
    e = psi.unsqueeze(-1) * (v_decayed - b_decayed)
    gate = reset_gate(z, p.reset_method).unsqueeze(-1)
    return e, EligibilityTraces(gate * v_decayed, i_decayed, b_decayed + q.beta * e)


def readout_filter_step(
    signal: torch.Tensor, state: LIState, p: LIParameters, dt: float = 0.001
) -> Tuple[torch.Tensor, LIState]:
    """``F``: the readout's leaky-integrator step with ``v_leak = 0`` applied to a trace or to
    the spikes (any shape); returns ``(F(signal)^t, state^t)``."""
    return li_feed_forward_step(signal, state, p._replace(v_leak=0.0), dt)


def eprop_gradient(
    learning_signal: Optional[torch.Tensor],
    filtered_trace: torch.Tensor,
    spike_error: Optional[torch.Tensor] = None,
    trace: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """One step's gradient ``Σ_batch L_j F(e)_ji + (∂E/∂z_j) e_ji`` ``(hidden, pre)`` from the
    learning signal and the spike error ``(batch, hidden)`` (either may be ``None``)."""
    gradient = filtered_trace.new_zeros(filtered_trace.shape[1:])
    if learning_signal is not None:
        gradient = gradient + torch.einsum("bh,bhp->hp", learning_signal, filtered_trace)
    if spike_error is not None:
        if trace is None:
            raise ValueError("eprop_gradient: a spike_error needs the unfiltered trace")
        gradient = gradient + torch.einsum("bh,bhp->hp", spike_error, trace)
    return gradient


# -- a chunk of K steps at once ------------------------------------------------------------------
#
# Within a chunk every trace follows LINEAR dynamics whose coefficients (ψ^t, the reset gate
# g^t = ∂v'/∂v_d, the parameters) depend on the postsynaptic neuron j and the batch row only:
# the state s_bji = (ε_v, ε_b, F(e)'s v and i, ε_i) of each synapse is driven by p_bi^t. So
# every quantity wanted at the chunk's end (the gradient Σ_t L^t F(e)^t + (∂E/∂z^t) e^t, and
# each state) is a linear functional J_k = Σ_t ρ_k^t p^t + Σ_s μ_k,s s^{t0}, whose coefficients
# ρ (per b, j, t) and μ (per b, j) come from ONE backward recursion over the chunk on
# (batch, hidden) numbers (the adjoint of the trace step, :func:`trace_adjoint`). The
# (batch, hidden, pre) work is then a few matrix products per chunk instead of a dozen
# elementwise passes per step. The result is the step-by-step one (:func:`lsnn_eligibility_step`,
# :func:`readout_filter_step`, :func:`eprop_gradient`), summed in another order.


def per_neuron_row(value: Union[float, torch.Tensor], hidden: int, like: torch.Tensor) -> torch.Tensor:
    """A number or per-neuron tensor as a ``(hidden,)`` row in ``like``'s dtype and device."""
    return torch.as_tensor(value, dtype=like.dtype, device=like.device).reshape(-1).expand(hidden)


def trace_coefficients(p: Union[LIFParameters, LSNNParameters], hidden: int, like: torch.Tensor, dt: float) -> torch.Tensor:
    """The rows ``(dt*tau_mem_inv, dt*tau_syn_inv, dt*tau_adapt_inv, beta)`` ``(4, hidden)`` of the
    trace dynamics (LIF: the last two zero)."""
    adaptive = isinstance(p, LSNNParameters)
    values = (dt * p.tau_mem_inv, dt * p.tau_syn_inv, dt * p.tau_adapt_inv if adaptive else 0.0,
              p.beta if adaptive else 0.0)
    return torch.stack([per_neuron_row(value, hidden, like) for value in values])


def _filter_rates(p: LIParameters, dt: float) -> Tuple[float, float]:
    return float(dt * p.tau_mem_inv), float(dt * p.tau_syn_inv)


def trace_adjoint(
    psi: torch.Tensor,
    gate: torch.Tensor,
    learning_signal: Optional[torch.Tensor],
    spike_error: Optional[torch.Tensor],
    coefficients: torch.Tensor,
    filter_rates: Optional[Tuple[float, float]],
    adaptive: bool,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """The backward recursion over a chunk (``psi``, ``gate`` ``g^t``, ``learning_signal``,
    ``spike_error``: ``(K, batch, hidden)``, the last two may be ``None``; ``coefficients`` of
    :func:`trace_coefficients`; ``filter_rates`` ``(dt*tau_mem_inv, dt*tau_syn_inv)`` of the
    readout filter or ``None``). States ``s``: ``ε_v``, ``ε_b`` (adaptive), ``F_v``, ``F_i``
    (filter), ``ε_i``; functionals ``k``: the gradient, then every state but ``ε_i`` at the
    chunk's end. Returns ``ρ`` ``(K, nk, batch, hidden)`` and ``μ`` ``(ns, nk, batch, hidden)``
    (``μ[s, k]``: the coefficient of state ``s`` at the chunk's start in functional ``k``).
    With ``λ`` the adjoint of each state after step ``t`` (the terminal ones: unit vectors)::

        γ_Fv = λ_Fv + L^t;  γ_Fj = am γ_Fv + (1-as) λ_Fi;  λ_Fv ← (1-am) γ_Fv;  λ_Fi ← γ_Fj
        γ_e  = γ_Fj (no filter: L^t) + ∂E/∂z^t + beta λ_b
        γ_vd = ψ γ_e + g λ_v;  λ_b ← (1-r)(λ_b - ψ γ_e);  λ_v ← (1-a) γ_vd
        ρ^t = a γ_vd + (1-c) λ_i;  λ_i ← ρ^t

    (``L^t`` and ``∂E/∂z^t`` enter the gradient's functional only; ``a, c, r`` the rows of
    ``coefficients`` times ``dt``, ``am, as`` the filter's.) The compiled loop
    (``csrc/eprop.cpp``) runs the same recursion."""
    steps, batch, hidden = psi.shape
    filtered = filter_rates is not None
    ns = 2 + int(adaptive) + 2 * int(filtered)
    mu = psi.new_zeros((ns, ns, batch, hidden))
    for k in range(1, ns):
        mu[k - 1, k] = 1.0
    rho = psi.new_empty((steps, ns, batch, hidden))
    a, c, r, beta = coefficients
    mv, mi = mu[0], mu[ns - 1]
    mb = mu[1] if adaptive else None
    if filtered:
        am, a_s = filter_rates
        mfv, mfi = mu[ns - 3], mu[ns - 2]
    for t in range(steps - 1, -1, -1):
        if filtered:
            g_fv = mfv.clone()
            if learning_signal is not None:
                g_fv[0] += learning_signal[t]
            g_e = am * g_fv + (1 - a_s) * mfi
            mfv.copy_((1 - am) * g_fv)
            mfi.copy_(g_e)
        else:
            g_e = torch.zeros_like(mv)
            if learning_signal is not None:
                g_e[0] += learning_signal[t]
        if spike_error is not None:
            g_e[0] += spike_error[t]
        if adaptive:
            g_e = g_e + beta * mb
        g_vd = psi[t] * g_e + gate[t] * mv
        if adaptive:
            mb.copy_((1 - r) * (mb - psi[t] * g_e))
        mv.copy_((1 - a) * g_vd)
        g_q = a * g_vd + (1 - c) * mi
        rho[t] = g_q
        mi.copy_(g_q)
    return rho, mu


def eligibility_chunk(
    traces: EligibilityTraces,
    filtered: Optional[LIState],
    presynaptic: torch.Tensor,
    z: torch.Tensor,
    psi: torch.Tensor,
    learning_signal: Optional[torch.Tensor],
    spike_error: Optional[torch.Tensor],
    p: Union[LIFParameters, LSNNParameters],
    readout_filter: Optional[LIParameters],
    dt: float = 0.001,
    compiled: bool = False,
) -> Tuple[torch.Tensor, EligibilityTraces, Optional[LIState]]:
    """K steps of the traces (``traces``; ``filtered``: ``F(e)``'s state, ``None`` without a
    readout filter) at once, from the presynaptic signals ``p^t`` ``(K, batch, pre)``, the
    spikes, surrogate derivatives, learning signals ``L^t`` and spike errors ``(K, batch,
    hidden)`` (the last two may be ``None``). Returns ``(Σ_t Σ_batch L^t F(e^t) + (∂E/∂z^t)
    e^t`` ``(hidden, pre)``, the traces, ``F(e)``'s state) after the chunk: what K steps of
    :func:`lif_eligibility_step`/:func:`lsnn_eligibility_step`, :func:`readout_filter_step`
    and :func:`eprop_gradient` give, from one :func:`trace_adjoint` and matrix products
    (``compiled``: its loop from ``csrc/eprop.cpp``, which must be loaded)."""
    steps, batch, hidden = z.shape
    adaptive = isinstance(p, LSNNParameters)
    if adaptive and traces.b is None:
        raise ValueError("eligibility_chunk: traces.b is None; build the traces with adaptive=True")
    coefficients = trace_coefficients(p, hidden, z, dt)
    rates = None if readout_filter is None else _filter_rates(readout_filter, dt)
    gate = reset_gate(z, p.reset_method)
    if compiled:
        from norse_core.functional import eprop_cpp

        empty = z.new_empty(0)
        rho, mu = eprop_cpp.ops().adjoint(
            psi.contiguous(), gate.contiguous(),
            empty if learning_signal is None else learning_signal.contiguous(),
            empty if spike_error is None else spike_error.contiguous(),
            coefficients.contiguous(), rates[0] if rates else 0.0, rates[1] if rates else 0.0, adaptive, rates is not None,
        )
    else:
        rho, mu = trace_adjoint(psi, gate, learning_signal, spike_error, coefficients, rates, adaptive)
    states = [traces.v] + ([traces.b] if adaptive else []) + ([filtered.v, filtered.i] if rates else []) + [traces.i]
    # Σ_t ρ_k^t p^t for every functional at once: (nk, batch, hidden, pre)
    out = torch.einsum("tkbj,tbp->kbjp", rho, presynaptic)
    for s, state in enumerate(states):
        out.addcmul_(mu[s].unsqueeze(-1), state.unsqueeze(0))
    gradient = out[0].sum(0)
    # ε_i (presynaptic, the postsynaptic neuron's tau_syn_inv): ε_i^t = (1-c)(ε_i^{t-1} + p^t)
    c = torch.as_tensor(dt * p.tau_syn_inv, dtype=z.dtype, device=z.device)
    powers = torch.arange(steps, 0, -1, dtype=z.dtype, device=z.device)
    if c.numel() > 1:  # one per neuron: (K, hidden) -> ε_i (batch, hidden, pre)
        weights = (1 - c.reshape(1, -1)) ** powers.unsqueeze(-1)
        current = torch.einsum("th,tbp->bhp", weights, presynaptic) + ((1 - c.reshape(-1, 1)) ** steps) * traces.i
    else:
        weights = (1 - c.reshape(())) ** powers
        current = torch.einsum("t,tbp->bp", weights, presynaptic).unsqueeze(1) + (1 - c.reshape(())) ** steps * traces.i
    v_trace = out[1]
    b_trace = out[2] if adaptive else None
    new_filtered = LIState(out[-2], out[-1]) if rates else None
    return gradient, EligibilityTraces(v_trace, current, b_trace), new_filtered


@functools.lru_cache(maxsize=32)
def _filter_responses(steps: int, am: float, a_s: float, dtype: torch.dtype, device: torch.device):
    """The LI filter's (``v_leak = 0``) responses over ``steps`` steps: ``(T, h)`` with ``T[t, s]``
    the voltage at step ``t`` after an input at step ``s`` and ``h`` ``(6, K)``: the rows ``h_v``,
    ``h_i`` (the response to an input at step 0), then ``v`` and ``i`` from the state ``(1, 0)``
    and from ``(0, 1)``, each after steps 0..K-1 (computed in float64 by the step's equations)."""
    h = torch.zeros(6, steps, dtype=torch.float64)
    for row, (v, i, x) in enumerate(((0.0, 0.0, 1.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0))):
        for k in range(steps):
            i_jump = i + (x if k == 0 else 0.0)
            v = v + am * (-v + i_jump)
            i = i_jump - a_s * i_jump
            h[2 * row, k], h[2 * row + 1, k] = v, i
    lag = torch.arange(steps)
    lag = lag.unsqueeze(1) - lag.unsqueeze(0)  # t - s
    toeplitz = torch.where(lag >= 0, h[0][lag.clamp_min(0)], h.new_zeros(()))
    return toeplitz.to(dtype=dtype, device=device), h.to(dtype=dtype, device=device)


def readout_filter_chunk(
    signal: torch.Tensor, state: LIState, p: LIParameters, dt: float = 0.001
) -> Tuple[torch.Tensor, LIState]:
    """``F`` (:func:`readout_filter_step`) over ``K`` steps of ``signal`` ``(K, ...)`` at once,
    from its impulse responses: returns ``(F(signal)^t for each step (K, ...), state after)``;
    ``p`` must hold numbers (one filter for all)."""
    steps = signal.shape[0]
    toeplitz, h = _filter_responses(steps, *_filter_rates(p, dt), signal.dtype, signal.device)
    flat = signal.reshape(steps, -1)
    v0, i0 = state.v.reshape(1, -1), state.i.reshape(1, -1)
    v = torch.addmm(h[2].unsqueeze(1) * v0 + h[4].unsqueeze(1) * i0, toeplitz, flat)
    i_end = h[1].flip(0) @ flat + h[3, -1] * v0[0] + h[5, -1] * i0[0]
    shape = signal.shape[1:]
    return v.reshape(signal.shape), LIState(v[-1].reshape(shape), i_end.reshape(shape))
