"""Refractory LIF modules; dynamics in :mod:`norse_core.functional.lif_refrac`."""

from norse_core.functional.lif_refrac import (
    LIF_REFRAC_DYNAMICS,
    LIFRefracFeedForwardState,
    LIFRefracParameters,
    LIFRefracState,
    lif_refrac_feed_forward_step,
    lif_refrac_step,
)
from norse_core.functional.lif import LIFFeedForwardState, LIFParameters, LIFState  # noqa: F401 (Norse imports them here)
from norse_core.module.lif import LIFCell, LIFRecurrentCell
from norse_core.module.snn import SNN, SNNCell, SNNRecurrentCell, inner_state


class LIFRefracCell(SNNCell):
    """One refractory LIF step: after a spike the neuron is silent for ``rho_reset`` steps."""

    parameters_type = LIFRefracParameters
    state_type = LIFRefracFeedForwardState
    step = staticmethod(lif_refrac_feed_forward_step)
    initial_values = {"lif": inner_state(LIFCell, "lif")}


class LIFRefrac(SNN, LIFRefracCell):
    """:class:`LIFRefracCell` over time."""

    dynamics = LIF_REFRAC_DYNAMICS


class LIFRefracRecurrentCell(SNNRecurrentCell):
    """One recurrent refractory LIF step."""

    parameters_type = LIFRefracParameters
    state_type = LIFRefracState
    step = staticmethod(lif_refrac_step)
    initial_values = {"lif": inner_state(LIFRecurrentCell, "lif")}


class LIFRefracRecurrent(SNN, LIFRefracRecurrentCell):
    """:class:`LIFRefracRecurrentCell` over time."""

    dynamics = LIF_REFRAC_DYNAMICS.as_recurrent()
