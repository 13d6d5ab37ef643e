"""Leaky integrators (LI): a LIF neuron without threshold, used as a readout::

    i_j = i + x                      (li_step: i + linear(x, W))
    v'  = v + dt*tau_mem_inv*((v_leak - v) + i_j)
    i'  = i_j - dt*tau_syn_inv*i_j
    output = v'
"""

from __future__ import annotations

from typing import NamedTuple, Tuple

import torch
import torch.nn.functional as F

from norse_core.functional.lif import Scalar
from norse_core.functional.dynamics import Dynamics


class LIParameters(NamedTuple):
    """Parameters of a leaky integrator (time constants as inverses, in 1/s)."""

    tau_syn_inv: Scalar = 200.0
    tau_mem_inv: Scalar = 100.0
    v_leak: Scalar = 0.0


#: The terms of the LI step, from which the fused kernels of LI layers are made
#: (:mod:`norse_core.functional.dynamics`).
LI_DYNAMICS = Dynamics("li", current=True, spiking=False)


class LIState(NamedTuple):
    """State of a leaky integrator: voltage ``v`` and synaptic current ``i``."""

    v: torch.Tensor
    i: torch.Tensor


def li_feed_forward_step(
    input_tensor: torch.Tensor,
    state: LIState,
    p: LIParameters = LIParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIState]:
    """One LI step on input currents of any shape; returns ``(v', (v', i'))``."""
    i_jump = state.i + input_tensor
    v_new = state.v + dt * p.tau_mem_inv * ((p.v_leak - state.v) + i_jump)
    i_new = i_jump - dt * p.tau_syn_inv * i_jump
    return v_new, LIState(v_new, i_new)


def li_step(
    input_tensor: torch.Tensor,
    state: LIState,
    input_weights: torch.Tensor,
    p: LIParameters = LIParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIState]:
    """One LI step after a linear map ``linear(x, W)`` of ``x`` ``(..., input)`` with ``W``
    ``(hidden, input)``; returns ``(v', (v', i'))``."""
    return li_feed_forward_step(F.linear(input_tensor, input_weights), state, p, dt)
