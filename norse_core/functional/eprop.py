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
    ε_v^t  = (1 - z^t) ε_vd^t           (the recurrent step resets with detached spikes)

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
"""

from __future__ import annotations

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
    return e, EligibilityTraces((1 - z.unsqueeze(-1)) * v_decayed, i_decayed)


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
    return e, EligibilityTraces((1 - z.unsqueeze(-1)) * v_decayed, i_decayed, b_decayed + q.beta * e)


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
