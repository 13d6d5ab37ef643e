"""Exponential LIF modules; dynamics in :mod:`norse_core.functional.lif_ex`."""

from norse_core.functional.lif_ex import (
    LIFExFeedForwardState,
    LIFExParameters,
    LIFExState,
    LIF_EX_DYNAMICS,
    lif_ex_feed_forward_step,
    lif_ex_step,
)
from norse_core.module.snn import SNN, SNNCell, SNNRecurrentCell


class LIFExCell(SNNCell):
    """One exponential-LIF step (``+ delta_T*exp((v - v_th)/delta_T)`` drive)."""

    parameters_type = LIFExParameters
    state_type = LIFExFeedForwardState
    step = staticmethod(lif_ex_feed_forward_step)
    initial_values = {"v": "v_leak"}


class LIFEx(SNN, LIFExCell):
    """:class:`LIFExCell` over time."""

    dynamics = LIF_EX_DYNAMICS


class LIFExRecurrentCell(SNNRecurrentCell):
    """One recurrent exponential-LIF step."""

    parameters_type = LIFExParameters
    state_type = LIFExState
    step = staticmethod(lif_ex_step)
    initial_values = {"v": "v_leak"}


class LIFExRecurrent(SNN, LIFExRecurrentCell):
    """:class:`LIFExRecurrentCell` over time."""

    dynamics = LIF_EX_DYNAMICS.as_recurrent()
