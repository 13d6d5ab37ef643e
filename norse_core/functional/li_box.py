"""Box leaky integrator: ``v' = v + dt*tau_mem_inv*((v_leak - v) + x)``, output ``v'``."""

from __future__ import annotations

from typing import NamedTuple, Tuple

import torch

from norse_core.functional.lif import Scalar
from norse_core.functional.dynamics import Dynamics


class LIBoxParameters(NamedTuple):
    """Parameters of a box leaky integrator (no synaptic current)."""

    tau_mem_inv: Scalar = 100.0
    v_leak: Scalar = 0.0


#: The terms of the LIBox step, from which the fused kernels of LIBox layers are made
#: (:mod:`norse_core.functional.dynamics`).
LI_BOX_DYNAMICS = Dynamics("li_box", spiking=False)


class LIBoxState(NamedTuple):
    """State of a box leaky integrator: the voltage ``v``."""

    v: torch.Tensor


def li_box_step(
    input_tensor: torch.Tensor,
    state: LIBoxState,
    p: LIBoxParameters = LIBoxParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIBoxState]:
    """One box LI step; returns ``(v', (v',))``."""
    v_new = state.v + dt * p.tau_mem_inv * ((p.v_leak - state.v) + input_tensor)
    return v_new, LIBoxState(v_new)


#: Norse's name for the same step.
li_box_feed_forward_step = li_box_step
