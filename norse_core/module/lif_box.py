"""Box LIF modules (no synaptic current): :class:`LIFBoxCell`, :class:`LIFBox`."""

from norse_core.functional.lif_box import (
    LIFBoxFeedForwardState,
    LIFBoxParameters,
    LIF_BOX_DYNAMICS,
    lif_box_feed_forward_step,
)
from norse_core.module.snn import SNN, SNNCell


class LIFBoxCell(SNNCell):
    """One box LIF step: ``v' = v + dt*tau_mem_inv*(v_leak - v + x); z = Θ(v' - v_th)``,
    reset to ``v_reset`` or by subtracting ``v_th`` (``p.reset_method``)."""

    parameters_type = LIFBoxParameters
    state_type = LIFBoxFeedForwardState
    step = staticmethod(lif_box_feed_forward_step)
    initial_values = {"v": "v_leak"}


class LIFBox(SNN, LIFBoxCell):
    """:class:`LIFBoxCell` over time: input ``(T, ...)`` -> spikes ``(T, ...)``."""

    dynamics = LIF_BOX_DYNAMICS
