"""Integrate-and-fire modules: :class:`IAFCell`, :class:`IAF` and recurrent variants."""

from norse_core.functional.iaf import (
    IAFFeedForwardState,
    IAFParameters,
    IAFState,
    IAF_DYNAMICS,
    iaf_feed_forward_step,
    iaf_step,
)
from norse_core.module.snn import SNN, SNNCell, SNNRecurrentCell


class IAFCell(SNNCell):
    """One IAF step: ``v = v + x; z = Θ(v - v_th)``, reset to ``v_reset``. State starts at 0."""

    parameters_type = IAFParameters
    state_type = IAFFeedForwardState
    step = staticmethod(iaf_feed_forward_step)


class IAF(SNN, IAFCell):
    """:class:`IAFCell` over time: input ``(T, ...)`` -> spikes ``(T, ...)``."""

    dynamics = IAF_DYNAMICS


class IAFRecurrentCell(SNNRecurrentCell):
    """One recurrent IAF step: ``v = v + linear(x, W_in) + linear(z_prev, W_rec)``."""

    parameters_type = IAFParameters
    state_type = IAFState
    step = staticmethod(iaf_step)


class IAFRecurrent(SNN, IAFRecurrentCell):
    """:class:`IAFRecurrentCell` over time: ``(T, ..., input_size)`` -> ``(T, ..., hidden_size)``."""

    dynamics = IAF_DYNAMICS.as_recurrent(detach_reset=False)
