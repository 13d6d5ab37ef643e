"""Conductance-based LIF modules; dynamics in :mod:`norse_core.functional.coba_lif`."""

from norse_core.functional.coba_lif import (
    CobaLIFFeedForwardState,
    CobaLIFParameters,
    CobaLIFState,
    coba_lif_feed_forward_step,
    coba_lif_step,
)
from norse_core.module.snn import SNN, SNNCell, SNNRecurrentCell


class CobaLIFCell(SNNCell):
    """One conductance-based LIF step; ``v`` starts at ``v_rest``, conductances at 0."""

    parameters_type = CobaLIFParameters
    state_type = CobaLIFFeedForwardState
    step = staticmethod(coba_lif_feed_forward_step)
    initial_values = {"v": "v_rest"}


class CobaLIF(SNN, CobaLIFCell):
    """:class:`CobaLIFCell` over time."""


class CobaLIFRecurrentCell(SNNRecurrentCell):
    """One recurrent conductance-based LIF step."""

    parameters_type = CobaLIFParameters
    state_type = CobaLIFState
    step = staticmethod(coba_lif_step)
    initial_values = {"v": "v_rest"}


class CobaLIFRecurrent(SNN, CobaLIFRecurrentCell):
    """:class:`CobaLIFRecurrentCell` over time."""
