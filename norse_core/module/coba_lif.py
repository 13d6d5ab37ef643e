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
    """One conductance-based LIF step; ``v`` starts at ``v_rest``, conductances at 0.

    ``CobaLIFCell(p=None, dt=0.001)`` is feed-forward like every other cell. Norse's
    ``CobaLIFCell(input_size, hidden_size, p, dt)`` is a recurrent cell with input weights
    and autapses: called with sizes, this class builds that, a :class:`CobaLIFRecurrentCell`
    with ``autapses=True`` (so ``isinstance(cell, CobaLIFCell)`` is then false).
    """

    def __new__(cls, *args, **kwargs):
        sized = (args and isinstance(args[0], int) and not isinstance(args[0], bool)) or "input_size" in kwargs
        if cls is CobaLIFCell and sized:
            if len(args) > 3:  # Norse's positional dt
                args, kwargs = args[:3], {**kwargs, "dt": args[3]}
            kwargs.setdefault("autapses", True)
            return CobaLIFRecurrentCell(*args, **kwargs)
        return super().__new__(cls)

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
