"""Box LIF: a leaky integrate-and-fire neuron without synaptic current::

    v_d = v + dt*tau_mem_inv*((v_leak - v) + x)
    z   = Θ(v_d - v_th)
    v'  = (1 - z)*v_d + z*v_reset          (reset_method="value", default)
    v'  = (1 - z)*v_d + z*(v_d - v_th)     (reset_method="subtract")

``reset_method`` may also be a function ``(z, v, v_reset, v_th) -> v'`` as in Norse
(:func:`~norse_core.functional.reset.reset_value`, :func:`~norse_core.functional.reset.reset_subtract`
or your own); modules turn the two built-in functions into their names, so the fused
kernels run them.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Tuple, Union

import torch

from norse_core.functional.lif import Scalar, reset_to_value
from norse_core.functional.reset import reset_subtract, reset_value
from norse_core.functional.threshold import threshold
from norse_core.functional.dynamics import Dynamics

RESET_METHODS = ("value", "subtract")


class LIFBoxParameters(NamedTuple):
    """Parameters of a box LIF neuron; ``reset_method`` is ``"value"`` or ``"subtract"`` (or a
    reset function, see the module docstring)."""

    tau_mem_inv: Scalar = 100.0
    v_leak: Scalar = 0.0
    v_th: Scalar = 1.0
    v_reset: Scalar = 0.0
    method: str = "super"
    alpha: float = 100.0
    reset_method: Union[str, Callable[..., torch.Tensor]] = "value"


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
    reset = p.reset_method
    if reset == "value" or reset is reset_value:
        v_new = reset_to_value(v_decayed, z, p.v_reset)
    elif reset == "subtract" or reset is reset_subtract:
        v_new = v_decayed - z * p.v_th
    elif callable(reset):
        v_new = reset(z, v_decayed, p.v_reset, p.v_th)
    else:
        raise ValueError(
            f"unknown reset_method {p.reset_method!r}; valid: {', '.join(RESET_METHODS)}"
        )
    return z, LIFBoxFeedForwardState(v_new)


#: Norse's name for the state of a box LIF neuron.
LIFBoxState = LIFBoxFeedForwardState
