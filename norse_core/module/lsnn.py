"""LSNN (adaptive threshold) modules; dynamics in :mod:`norse_core.functional.lsnn`."""

from norse_core.functional.lsnn import (
    LSNNFeedForwardState,
    LSNNParameters,
    LSNNState,
    LSNN_DYNAMICS,
    lsnn_feed_forward_step,
    lsnn_step,
)
from norse_core.functional.adjoint.lsnn import lsnn_adjoint_step, lsnn_feed_forward_adjoint_step  # noqa: F401 (Norse's names here)
from norse_core.module.snn import SNN, SNNCell, SNNRecurrentCell

_INITIAL = {"v": "v_leak", "b": "v_th"}


class LSNNCell(SNNCell):
    """One LSNN step: LIF whose threshold ``b`` jumps by ``beta`` per spike and relaxes to
    ``v_th`` with ``tau_adapt_inv``. State starts at ``v = v_leak, i = 0, b = v_th``."""

    parameters_type = LSNNParameters
    state_type = LSNNFeedForwardState
    step = staticmethod(lsnn_feed_forward_step)
    initial_values = _INITIAL


class LSNN(SNN, LSNNCell):
    """:class:`LSNNCell` over time: ``(T, ...)`` -> spikes ``(T, ...)``."""

    dynamics = LSNN_DYNAMICS


class LSNNRecurrentCell(SNNRecurrentCell):
    """One recurrent LSNN step: ``(..., input_size)`` -> ``(..., hidden_size)``."""

    parameters_type = LSNNParameters
    state_type = LSNNState
    step = staticmethod(lsnn_step)
    initial_values = _INITIAL


class LSNNRecurrent(SNN, LSNNRecurrentCell):
    """:class:`LSNNRecurrentCell` over time."""

    dynamics = LSNN_DYNAMICS.as_recurrent()
