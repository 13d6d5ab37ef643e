"""Adaptive exponential LIF modules (with and without a refractory period); dynamics in
:mod:`norse_core.functional.lif_adex` and :mod:`norse_core.functional.lif_adex_refrac`."""

from norse_core.functional.lif_adex import (
    LIFAdExFeedForwardState,
    LIFAdExParameters,
    LIFAdExState,
    LIF_ADEX_DYNAMICS,
    lif_adex_feed_forward_step,
    lif_adex_step,
)
from norse_core.functional.lif_adex_refrac import (
    LIF_ADEX_REFRAC_DYNAMICS,
    LIFAdExRefracFeedForwardState,
    LIFAdExRefracParameters,
    LIFAdExRefracState,
    lif_adex_refrac_feed_forward_step,
    lif_adex_refrac_step,
)
from norse_core.module.snn import SNN, SNNCell, SNNRecurrentCell, inner_state


class LIFAdExCell(SNNCell):
    """One adaptive exponential LIF step (adaptation current ``a`` starts at 0)."""

    parameters_type = LIFAdExParameters
    state_type = LIFAdExFeedForwardState
    step = staticmethod(lif_adex_feed_forward_step)
    initial_values = {"v": "v_leak"}


class LIFAdEx(SNN, LIFAdExCell):
    """:class:`LIFAdExCell` over time."""

    dynamics = LIF_ADEX_DYNAMICS


class LIFAdExRecurrentCell(SNNRecurrentCell):
    """One recurrent adaptive exponential LIF step."""

    parameters_type = LIFAdExParameters
    state_type = LIFAdExState
    step = staticmethod(lif_adex_step)
    initial_values = {"v": "v_leak"}


class LIFAdExRecurrent(SNN, LIFAdExRecurrentCell):
    """:class:`LIFAdExRecurrentCell` over time."""

    dynamics = LIF_ADEX_DYNAMICS.as_recurrent()


class LIFAdExRefracCell(SNNCell):
    """One refractory adaptive exponential LIF step (``rho`` starts at 0)."""

    parameters_type = LIFAdExRefracParameters
    state_type = LIFAdExRefracFeedForwardState
    step = staticmethod(lif_adex_refrac_feed_forward_step)
    initial_values = {"lif_adex": inner_state(LIFAdExCell, "lif_adex")}


class LIFAdExRefrac(SNN, LIFAdExRefracCell):
    """:class:`LIFAdExRefracCell` over time."""

    dynamics = LIF_ADEX_REFRAC_DYNAMICS


class LIFAdExRefracRecurrentCell(SNNRecurrentCell):
    """One recurrent refractory adaptive exponential LIF step."""

    parameters_type = LIFAdExRefracParameters
    state_type = LIFAdExRefracState
    step = staticmethod(lif_adex_refrac_step)
    initial_values = {"lif_adex": inner_state(LIFAdExRecurrentCell, "lif_adex")}


class LIFAdExRefracRecurrent(SNN, LIFAdExRefracRecurrentCell):
    """:class:`LIFAdExRefracRecurrentCell` over time."""

    dynamics = LIF_ADEX_REFRAC_DYNAMICS.as_recurrent()
