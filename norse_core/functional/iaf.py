"""Integrate-and-fire (IAF) neurons without leak::

    v = v + x                     (recurrent: v + linear(x, W_in) + linear(z, W_rec))
    z = Θ(v - v_th)
    v = (1 - z)*v + z*v_reset     (reset_method="value", the default)
    v = v - z*v_th                (reset_method="subtract")
"""

from __future__ import annotations

from typing import NamedTuple, Tuple, Union

import torch
import torch.nn.functional as F

from norse_core.functional.lif import Scalar
from norse_core.functional.reset import ResetMethod, apply_reset
from norse_core.functional.threshold import threshold
from norse_core.functional.dynamics import Dynamics


class IAFParameters(NamedTuple):
    """Parameters of an integrate-and-fire neuron; ``reset_method`` is ``"value"`` or
    ``"subtract"`` (or a reset function)."""

    v_th: Scalar = 1.0
    v_reset: Scalar = 0.0
    method: str = "super"
    alpha: float = 100.0
    reset_method: Union[str, ResetMethod] = "value"


#: The terms of the IAF step, from which the fused kernels of IAF layers are made
#: (:mod:`norse_core.functional.dynamics`).
IAF_DYNAMICS = Dynamics("iaf", leak=False, reset_choice=True)


class IAFFeedForwardState(NamedTuple):
    """State of a feed-forward IAF neuron: the voltage ``v``."""

    v: torch.Tensor


class IAFState(NamedTuple):
    """State of a recurrent IAF neuron: last spikes ``z`` and voltage ``v``."""

    z: torch.Tensor
    v: torch.Tensor


def _iaf_fire(v: torch.Tensor, p: IAFParameters) -> Tuple[torch.Tensor, torch.Tensor]:
    z = threshold(v - p.v_th, p.method, p.alpha)
    return z, apply_reset(p.reset_method, z, v, p.v_reset, p.v_th)


def iaf_feed_forward_step(
    input_tensor: torch.Tensor,
    state: IAFFeedForwardState,
    p: IAFParameters = IAFParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, IAFFeedForwardState]:
    """One IAF step on inputs of any shape; ``dt`` is unused (kept for the common signature)."""
    z, v = _iaf_fire(state.v + input_tensor, p)
    return z, IAFFeedForwardState(v)


def iaf_step(
    input_tensor: torch.Tensor,
    state: IAFState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: IAFParameters = IAFParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, IAFState]:
    """One recurrent IAF step; ``x`` is ``(..., input)``, weights ``(hidden, input)`` and
    ``(hidden, hidden)``."""
    v = state.v + F.linear(input_tensor, input_weights) + F.linear(state.z, recurrent_weights)
    z, v = _iaf_fire(v, p)
    return z, IAFState(z, v)
