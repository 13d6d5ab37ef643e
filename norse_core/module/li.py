"""Leaky-integrator modules (readouts): :class:`LICell`, :class:`LI`, :class:`LILinearCell`;
the dynamics are :mod:`norse_core.functional.li`."""

from norse_core.functional.li import LIParameters, LIState, LI_DYNAMICS, li_feed_forward_step, li_step
from norse_core.module.snn import SNN, SNNCell, SNNLinearCell


class LICell(SNNCell):
    """One leaky-integrator step: ``(v', LIState) = LICell(p)(x, state)``; never spikes."""

    parameters_type = LIParameters
    state_type = LIState
    step = staticmethod(li_feed_forward_step)
    initial_values = {"v": "v_leak"}


class LI(SNN, LICell):
    """:class:`LICell` over time: input ``(T, ...)`` -> voltages ``(T, ...)``."""

    dynamics = LI_DYNAMICS


class LILinearCell(SNNLinearCell):
    """A leaky integrator behind a linear map: ``(..., input_size)`` -> ``(..., hidden_size)``."""

    parameters_type = LIParameters
    state_type = LIState
    step = staticmethod(li_step)
    initial_values = {"v": "v_leak"}
