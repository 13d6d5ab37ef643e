"""Box leaky-integrator modules: :class:`LIBoxCell`, :class:`LIBox`."""

from norse_core.functional.li_box import LIBoxParameters, LIBoxState, LI_BOX_DYNAMICS, li_box_feed_forward_step, li_box_step  # noqa: F401
from norse_core.module.snn import SNN, SNNCell


class LIBoxCell(SNNCell):
    """One box leaky-integrator step: ``v' = v + dt*tau_mem_inv*(v_leak - v + x)``, output ``v'``."""

    parameters_type = LIBoxParameters
    state_type = LIBoxState
    step = staticmethod(li_box_step)
    initial_values = {"v": "v_leak"}


class LIBox(SNN, LIBoxCell):
    """:class:`LIBoxCell` over time: input ``(T, ...)`` -> voltages ``(T, ...)``."""

    dynamics = LI_BOX_DYNAMICS
