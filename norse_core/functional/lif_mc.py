"""Multi-compartment LIF: before the (recurrent) LIF step the compartments exchange
voltage through a coupling matrix ``g_coupling`` ``(hidden, hidden)``::

    v <- v + dt*linear(v, g_coupling)
"""

from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F

from norse_core.functional.lif import LIFFeedForwardState, LIFParameters, LIFState, lif_feed_forward_step, lif_step
from norse_core.functional.lif_refrac import (
    LIFRefracFeedForwardState,
    LIFRefracParameters,
    LIFRefracState,
    lif_refrac_feed_forward_step,
    lif_refrac_step,
)


def lif_mc_step(
    input_tensor: torch.Tensor,
    state: LIFState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    g_coupling: torch.Tensor,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFState]:
    """Couples the compartments' voltages, then one recurrent LIF step."""
    v = state.v + dt * F.linear(state.v, g_coupling)
    return lif_step(input_tensor, state._replace(v=v), input_weights, recurrent_weights, p, dt)


def lif_mc_refrac_step(
    input_tensor: torch.Tensor,
    state: LIFRefracState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    g_coupling: torch.Tensor,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFRefracState]:
    """Couples the compartments' voltages, then one recurrent refractory LIF step."""
    v = state.lif.v + dt * F.linear(state.lif.v, g_coupling)
    coupled = state._replace(lif=state.lif._replace(v=v))
    return lif_refrac_step(input_tensor, coupled, input_weights, recurrent_weights, p, dt)


def lif_mc_feed_forward_step(
    input_tensor: torch.Tensor,
    state: LIFFeedForwardState,
    g_coupling: torch.Tensor,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFFeedForwardState]:
    """Couples the compartments' voltages, then one feed-forward LIF step."""
    v = state.v + dt * F.linear(state.v, g_coupling)
    return lif_feed_forward_step(input_tensor, state._replace(v=v), p, dt)


def lif_mc_refrac_feed_forward_step(
    input_tensor: torch.Tensor,
    state: LIFRefracFeedForwardState,
    g_coupling: torch.Tensor,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFRefracFeedForwardState]:
    """Couples the compartments' voltages, then one feed-forward refractory LIF step."""
    v = state.lif.v + dt * F.linear(state.lif.v, g_coupling)
    coupled = state._replace(lif=state.lif._replace(v=v))
    return lif_refrac_feed_forward_step(input_tensor, coupled, p, dt)
