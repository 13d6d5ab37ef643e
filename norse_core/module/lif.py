"""LIF modules: :class:`LIFCell` (one step), :class:`LIF` (over time) and their recurrent
variants; the dynamics are :mod:`norse_core.functional.lif`."""

from norse_core.functional.lif import (
    LIFFeedForwardState,
    LIFParameters,
    LIFState,
    LIF_DYNAMICS,
    lif_feed_forward_step,
    lif_step,
)
from norse_core.functional.adjoint.lif import (  # noqa: F401 (Norse's names here)
    lif_feed_forward_adjoint_step,
    lif_feed_forward_adjoint_step_sparse,
)
from norse_core.module.snn import SNN, SNNCell, SNNRecurrentCell


class LIFCell(SNNCell):
    """One current-based LIF step: ``(z, LIFFeedForwardState) = LIFCell(p)(x, state)``.

    ``i_j = i + x; v' = v + dt*tau_mem_inv*(v_leak - v + i_j); i' = (1 - dt*tau_syn_inv)*i_j;
    z = Θ(v' - v_th)``, then reset to ``v_reset``. State starts at ``v = v_leak, i = 0``."""

    parameters_type = LIFParameters
    state_type = LIFFeedForwardState
    step = staticmethod(lif_feed_forward_step)
    initial_values = {"v": "v_leak"}


class LIF(SNN, LIFCell):
    """:class:`LIFCell` over time: input ``(T, ...)`` -> spikes ``(T, ...)``."""

    dynamics = LIF_DYNAMICS


class LIFRecurrentCell(SNNRecurrentCell):
    """One recurrent LIF step: input ``(..., input_size)`` -> spikes ``(..., hidden_size)``;
    the current jumps by ``linear(x, W_in) + linear(z_prev, W_rec)``."""

    parameters_type = LIFParameters
    state_type = LIFState
    step = staticmethod(lif_step)
    initial_values = {"v": "v_leak"}


class LIFRecurrent(SNN, LIFRecurrentCell):
    """:class:`LIFRecurrentCell` over time: ``(T, ..., input_size)`` -> ``(T, ..., hidden_size)``."""

    dynamics = LIF_DYNAMICS.as_recurrent()
