"""Box LIF: a leaky integrate-and-fire neuron without synaptic current::

    v_d = v + dt*tau_mem_inv*((v_leak - v) + x)
    z   = Θ(v_d - v_th)
    v'  = (1 - z)*v_d + z*v_reset          (reset_method="value", default)
    v'  = (1 - z)*v_d + z*(v_d - v_th)     (reset_method="subtract")

``reset_method`` may also be a function ``(z, v, v_reset, v_th) -> v'`` as in Norse
(:func:`~norse_core.functional.reset.reset_value`, :func:`~norse_core.functional.reset.reset_subtract`
or your own); modules turn the two built-in functions into their names, so the fused
kernels run them. Every other spiking model with a plain voltage reset takes it too
(:mod:`norse_core.functional.reset`).
"""

from __future__ import annotations

from typing import NamedTuple, Tuple, Union

import torch

from norse_core.functional.lif import Scalar
from norse_core.functional.reset import RESET_METHODS, ResetMethod, apply_reset, reset_value  # noqa: F401 (its old and Norse's names here)
from norse_core.functional.threshold import threshold
from norse_core.functional.dynamics import Dynamics

class LIFBoxParameters(NamedTuple):
    """Parameters of a box LIF neuron; ``reset_method`` is ``"value"`` or ``"subtract"`` (or a
    reset function, see the module docstring)."""

    tau_mem_inv: Scalar = 100.0
    v_leak: Scalar = 0.0
    v_th: Scalar = 1.0
    v_reset: Scalar = 0.0
    method: str = "super"
    alpha: float = 100.0
    reset_method: Union[str, ResetMethod] = "value"


#: The terms of the LIFBox step, from which the fused kernels of LIFBox layers are made
#: (:mod:`norse_core.functional.dynamics`).
LIF_BOX_DYNAMICS = Dynamics("lif_box", reset_choice=True)


class LIFBoxFeedForwardState(NamedTuple):
    """State of a box LIF neuron: the membrane voltage ``v``."""

    v: torch.Tensor


def lif_box_feed_forward_step(
    input_tensor: torch.Tensor,
    state: LIFBoxFeedForwardState,
    p: LIFBoxParameters = LIFBoxParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFBoxFeedForwardState]:
    """One box LIF step on input currents of any shape; returns ``(z, (v',))``."""
    v_decayed = state.v + dt * p.tau_mem_inv * ((p.v_leak - state.v) + input_tensor)
    z = threshold(v_decayed - p.v_th, p.method, p.alpha)
    return z, LIFBoxFeedForwardState(apply_reset(p.reset_method, z, v_decayed, p.v_reset, p.v_th))


#: Norse's name for the state of a box LIF neuron.
LIFBoxState = LIFBoxFeedForwardState
