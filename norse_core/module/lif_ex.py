"""Exponential LIF modules; dynamics in :mod:`norse_core.functional.lif_ex`."""

from norse_core.functional.lif_ex import (
    LIFExFeedForwardState,
    LIFExParameters,
    LIFExState,
    lif_ex_feed_forward_step,
    lif_ex_step,
)
from norse_core.fused.loops import lif_ex_fused_loop, lif_ex_recurrent_fused_loop
from norse_core.module.snn import SNN, SNNCell, SNNRecurrentCell


class LIFExCell(SNNCell):
    """One exponential-LIF step (``+ delta_T*exp((v - v_th)/delta_T)`` drive)."""

    parameters_type = LIFExParameters
    state_type = LIFExFeedForwardState
    step = staticmethod(lif_ex_feed_forward_step)
    initial_values = {"v": "v_leak"}


class LIFEx(SNN, LIFExCell):
    """:class:`LIFExCell` over time."""

    fused_loop = staticmethod(lif_ex_fused_loop)


class LIFExRecurrentCell(SNNRecurrentCell):
    """One recurrent exponential-LIF step."""

    parameters_type = LIFExParameters
    state_type = LIFExState
    step = staticmethod(lif_ex_step)
    initial_values = {"v": "v_leak"}


class LIFExRecurrent(SNN, LIFExRecurrentCell):
    """:class:`LIFExRecurrentCell` over time."""

    fused_loop = staticmethod(lif_ex_recurrent_fused_loop)
