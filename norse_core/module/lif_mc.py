"""Multi-compartment LIF modules; dynamics in :mod:`norse_core.functional.lif_mc`."""

from __future__ import annotations

import math
from typing import Any, Optional, Tuple

import torch

from norse_core.functional.lif import LIFParameters, LIFState
from norse_core.functional.lif_mc import lif_mc_refrac_step, lif_mc_step
from norse_core.functional.lif_refrac import LIFRefracParameters, LIFRefracState
from norse_core.module.lif import LIFRecurrentCell
from norse_core.module.snn import SNN, SNNRecurrentCell, _weights_or_default, inner_state


class _Coupled(SNNRecurrentCell):
    """A recurrent cell with a trainable compartment coupling ``g_coupling`` ``(hidden, hidden)``."""

    def __init__(self, input_size: int, hidden_size: int, p=None, *, g_coupling: Optional[torch.Tensor] = None, **kwargs: Any):
        super().__init__(input_size, hidden_size, p, **kwargs)
        if g_coupling is None:
            g_coupling = torch.randn(hidden_size, hidden_size) * math.sqrt(2.0 / hidden_size)
        self.g_coupling = torch.nn.Parameter(
            _weights_or_default(g_coupling, (hidden_size, hidden_size), "g_coupling", self)
        )

    def _step_args(self) -> Tuple[torch.Tensor, ...]:
        return (*super()._step_args(), self.g_coupling)


class LIFMCRecurrentCell(_Coupled):
    """One multi-compartment LIF step: ``v += dt*linear(v, g_coupling)``, then recurrent LIF."""

    parameters_type = LIFParameters
    state_type = LIFState
    step = staticmethod(lif_mc_step)
    initial_values = {"v": "v_leak"}


class LIFMCRecurrent(SNN, LIFMCRecurrentCell):
    """:class:`LIFMCRecurrentCell` over time."""


class LIFMCRefracRecurrentCell(_Coupled):
    """One multi-compartment refractory LIF step."""

    parameters_type = LIFRefracParameters
    state_type = LIFRefracState
    step = staticmethod(lif_mc_refrac_step)
    initial_values = {"lif": inner_state(LIFRecurrentCell, "lif")}


class LIFMCRefracRecurrent(SNN, LIFMCRefracRecurrentCell):
    """:class:`LIFMCRefracRecurrentCell` over time."""
