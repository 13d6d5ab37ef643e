"""Exponential LIF (LIFEx): LIF with an exponential upswing near threshold::

    i_j = i + x                                     (recurrent: + linear(x, W_in) + linear(z, W_rec))
    v_d = v + dt*tau_mem_inv*((v_leak - v) + delta_T*exp((v - v_th)/delta_T) + i_j)
    i'  = i_j - dt*tau_syn_inv*i_j
    z   = Θ(v_d - v_th);  v' = (1 - z)*v_d + z*v_reset   (z detached in the recurrent step)
                          v' = v_d - z*v_th             (reset_method="subtract")

The exponential term uses the pre-step voltage ``v``.
"""

from __future__ import annotations

from typing import NamedTuple, Tuple, Union

import torch
import torch.nn.functional as F

from norse_core.functional.lif import Scalar
from norse_core.functional.reset import ResetMethod, apply_reset
from norse_core.functional.threshold import threshold
from norse_core.functional.dynamics import Dynamics


class LIFExParameters(NamedTuple):
    """Parameters of an exponential LIF neuron; ``delta_T`` is the sharpness of the upswing,
    ``reset_method`` ``"value"`` or ``"subtract"`` (or a reset function)."""

    tau_syn_inv: Scalar = 200.0
    tau_mem_inv: Scalar = 100.0
    delta_T: Scalar = 0.5
    v_leak: Scalar = 0.0
    v_th: Scalar = 1.0
    v_reset: Scalar = 0.0
    method: str = "super"
    alpha: float = 100.0
    reset_method: Union[str, ResetMethod] = "value"


#: The terms of the LIFEx step, from which the fused kernels of LIFEx layers are made
#: (:mod:`norse_core.functional.dynamics`).
LIF_EX_DYNAMICS = Dynamics("lif_ex", current=True, exponential=True, reset_choice=True)


class LIFExFeedForwardState(NamedTuple):
    """State of a feed-forward LIFEx neuron: voltage ``v`` and current ``i``."""

    v: torch.Tensor
    i: torch.Tensor


class LIFExState(NamedTuple):
    """State of a recurrent LIFEx neuron: spikes ``z``, voltage ``v``, current ``i``."""

    z: torch.Tensor
    v: torch.Tensor
    i: torch.Tensor


def exponential_drive(v: torch.Tensor, p) -> torch.Tensor:
    """``delta_T*exp((v - v_th)/delta_T)``: the exponential upswing of LIFEx and LIFAdEx."""
    return p.delta_T * torch.exp((v - p.v_th) / p.delta_T)


def _lif_ex_dynamics(i_jump, v, p: LIFExParameters, dt: float, detach_reset: bool):
    v_decayed = v + dt * p.tau_mem_inv * ((p.v_leak - v) + exponential_drive(v, p) + i_jump)
    i_decayed = i_jump - dt * p.tau_syn_inv * i_jump
    z = threshold(v_decayed - p.v_th, p.method, p.alpha)
    v_new = apply_reset(p.reset_method, z.detach() if detach_reset else z, v_decayed, p.v_reset, p.v_th)
    return z, v_new, i_decayed


def lif_ex_feed_forward_step(
    input_tensor: torch.Tensor,
    state: LIFExFeedForwardState,
    p: LIFExParameters = LIFExParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFExFeedForwardState]:
    """One LIFEx step on input currents of any shape; returns ``(z, (v', i'))``."""
    z, v, i = _lif_ex_dynamics(state.i + input_tensor, state.v, p, dt, detach_reset=False)
    return z, LIFExFeedForwardState(v, i)


def lif_ex_step(
    input_tensor: torch.Tensor,
    state: LIFExState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LIFExParameters = LIFExParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFExState]:
    """One recurrent LIFEx step (weights ``(hidden, input)``, ``(hidden, hidden)``)."""
    i_jump = state.i + F.linear(input_tensor, input_weights) + F.linear(state.z, recurrent_weights)
    z, v, i = _lif_ex_dynamics(i_jump, state.v, p, dt, detach_reset=True)
    return z, LIFExState(z, v, i)


def lif_ex_current_encoder(
    input_current: torch.Tensor,
    voltage: torch.Tensor,
    p: LIFExParameters = LIFExParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Integrates a current directly into the voltage (no synapse); returns ``(z, v')``::

        v <- v + dt*tau_mem_inv*(v_leak - v + delta_T*exp((v - v_th)/delta_T) + I)
        z = Θ(v - v_th);  v <- (1 - z)*v + z*v_reset    (reset_method="subtract": v - z*v_th)
    """
    v = voltage + dt * p.tau_mem_inv * ((p.v_leak - voltage) + exponential_drive(voltage, p) + input_current)
    z = threshold(v - p.v_th, p.method, p.alpha)
    return z, apply_reset(p.reset_method, z, v, p.v_reset, p.v_th)
