"""Adaptive exponential LIF (LIFAdEx): LIFEx with an adaptation current ``a``::

    i_j = i + x                                     (recurrent: + linear(x, W_in) + linear(z, W_rec))
    v_d = v + dt*tau_mem_inv*((v_leak - v) + delta_T*exp((v - v_th)/delta_T) + i_j - a)
    i'  = i_j - dt*tau_syn_inv*i_j
    z   = Θ(v_d - v_th);  v' = (1 - z)*v_d + z*v_reset   (z detached in the recurrent step)
                          v' = v_d - z*v_th             (reset_method="subtract")
    a'  = a + dt*tau_ada_inv*(adaptation_current*(v - v_leak) - a) + z*adaptation_spike

``v`` in the exponential and in ``a'`` is the pre-step voltage.
"""

from __future__ import annotations

from typing import NamedTuple, Tuple, Union

import torch
import torch.nn.functional as F

from norse_core.functional.lif import Scalar
from norse_core.functional.lif_ex import exponential_drive
from norse_core.functional.reset import ResetMethod, apply_reset
from norse_core.functional.threshold import threshold
from norse_core.functional.dynamics import Dynamics


class LIFAdExParameters(NamedTuple):
    """Parameters of an adaptive exponential LIF neuron; ``reset_method`` is ``"value"`` or
    ``"subtract"`` (or a reset function)."""

    adaptation_current: Scalar = 4.0
    adaptation_spike: Scalar = 0.02
    delta_T: Scalar = 0.5
    tau_ada_inv: Scalar = 2.0
    tau_syn_inv: Scalar = 200.0
    tau_mem_inv: Scalar = 100.0
    v_leak: Scalar = 0.0
    v_th: Scalar = 1.0
    v_reset: Scalar = 0.0
    method: str = "super"
    alpha: float = 100.0
    reset_method: Union[str, ResetMethod] = "value"


#: The terms of the LIFAdEx step, from which the fused kernels of LIFAdEx layers are made
#: (:mod:`norse_core.functional.dynamics`).
LIF_ADEX_DYNAMICS = Dynamics("lif_adex", current=True, exponential=True, adaptation_current=True, reset_choice=True)


class LIFAdExFeedForwardState(NamedTuple):
    """State of a feed-forward LIFAdEx neuron: voltage ``v``, current ``i``, adaptation ``a``."""

    v: torch.Tensor
    i: torch.Tensor
    a: torch.Tensor


class LIFAdExState(NamedTuple):
    """State of a recurrent LIFAdEx neuron: spikes ``z``, ``v``, ``i``, adaptation ``a``."""

    z: torch.Tensor
    v: torch.Tensor
    i: torch.Tensor
    a: torch.Tensor


def _lif_adex_dynamics(i_jump, v, a, p: LIFAdExParameters, dt: float, detach_reset: bool):
    v_decayed = v + dt * p.tau_mem_inv * ((p.v_leak - v) + exponential_drive(v, p) + i_jump - a)
    i_decayed = i_jump - dt * p.tau_syn_inv * i_jump
    z = threshold(v_decayed - p.v_th, p.method, p.alpha)
    a_new = a + dt * p.tau_ada_inv * (p.adaptation_current * (v - p.v_leak) - a) + z * p.adaptation_spike
    v_new = apply_reset(p.reset_method, z.detach() if detach_reset else z, v_decayed, p.v_reset, p.v_th)
    return z, v_new, i_decayed, a_new


def lif_adex_feed_forward_step(
    input_tensor: torch.Tensor,
    state: LIFAdExFeedForwardState,
    p: LIFAdExParameters = LIFAdExParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFAdExFeedForwardState]:
    """One LIFAdEx step on input currents of any shape; returns ``(z, (v', i', a'))``."""
    z, v, i, a = _lif_adex_dynamics(state.i + input_tensor, state.v, state.a, p, dt, detach_reset=False)
    return z, LIFAdExFeedForwardState(v, i, a)


def lif_adex_step(
    input_tensor: torch.Tensor,
    state: LIFAdExState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LIFAdExParameters = LIFAdExParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFAdExState]:
    """One recurrent LIFAdEx step (weights ``(hidden, input)``, ``(hidden, hidden)``)."""
    i_jump = state.i + F.linear(input_tensor, input_weights) + F.linear(state.z, recurrent_weights)
    z, v, i, a = _lif_adex_dynamics(i_jump, state.v, state.a, p, dt, detach_reset=True)
    return z, LIFAdExState(z, v, i, a)


def lif_adex_current_encoder(
    input_current: torch.Tensor,
    voltage: torch.Tensor,
    adaptation: torch.Tensor,
    p: LIFAdExParameters = LIFAdExParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Integrates a current directly into the voltage (no synapse); returns ``(z, v', a')``::

        v_ = v + dt*tau_mem_inv*(v_leak - v + delta_T*exp((v - v_th)/delta_T) + I - a)
        z  = Θ(v_ - v_th);  v' = (1 - z)*v_ + z*v_reset    (reset_method="subtract": v_ - z*v_th)
        a' = a + dt*tau_ada_inv*(adaptation_current*(v - v_leak) - a) + z*adaptation_spike

    with the pre-step ``v`` in ``a'`` as in :func:`lif_adex_feed_forward_step`. *Deliberate
    change*: Norse 1.1.0 writes ``a' = tau_ada_inv*(adaptation_current*(v' - v_leak) - a) +
    z*adaptation_spike``, without ``dt`` and without the previous ``a``.
    """
    v = voltage + dt * p.tau_mem_inv * (
        (p.v_leak - voltage) + exponential_drive(voltage, p) + input_current - adaptation
    )
    z = threshold(v - p.v_th, p.method, p.alpha)
    a = adaptation + dt * p.tau_ada_inv * (p.adaptation_current * (voltage - p.v_leak) - adaptation)
    return z, apply_reset(p.reset_method, z, v, p.v_reset, p.v_th), a + z * p.adaptation_spike
