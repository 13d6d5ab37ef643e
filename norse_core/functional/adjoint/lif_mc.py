"""Adjoint steps of multi-compartment LIF neurons (Norse's ``functional.adjoint.lif_mc_adjoint``
and ``lif_mc_refrac_adjoint``).

The step is :func:`~norse_core.functional.lif_mc.lif_mc_step` (``v <- v + dt*linear(v,
g_coupling)``, then the recurrent LIF step) or
:func:`~norse_core.functional.lif_mc.lif_mc_refrac_step`. The coupling is a matrix product,
not a term of the generic hand adjoint, so backward *recomputes*: it re-runs our step under
autograd from the saved inputs (input, state, weights, coupling) and returns its gradients,
exactly those of the step (:func:`~norse_core.functional.adjoint.core.recompute_function`).

*Deliberate change*: exact gradients of our discrete step, not Norse's EventProp jumps.
"""

from __future__ import annotations

from typing import Tuple

import torch

from norse_core.functional.adjoint.core import recompute_function
from norse_core.functional.lif import LIFParameters, LIFState
from norse_core.functional.lif_mc import lif_mc_refrac_step, lif_mc_step
from norse_core.functional.lif_refrac import LIFRefracParameters, LIFRefracState
from norse_core.functional.threshold import heaviside  # noqa: F401 (Norse's name here)


def _lif_mc(x, z, v, i, w_in, w_rec, g_coupling, p, dt):
    z, s = lif_mc_step(x, LIFState(z, v, i), w_in, w_rec, g_coupling, p, dt)
    return z, s.v, s.i


def _lif_mc_refrac(x, z, v, i, rho, w_in, w_rec, g_coupling, p, dt):
    z, s = lif_mc_refrac_step(x, LIFRefracState(LIFState(z, v, i), rho), w_in, w_rec, g_coupling, p, dt)
    return z, s.lif.v, s.lif.i, s.rho


LIFMCAdjointFunction = recompute_function(
    _lif_mc, 7, "LIFMCAdjointFunction", LIFParameters(),
    """One multi-compartment LIF step, exact adjoint by recomputation:
    ``apply(x, z, v, i, W_in, W_rec, g_coupling, p, dt) -> (z', v', i')``.""",
)
LIFMCRefracAdjointFunction = recompute_function(
    _lif_mc_refrac, 8, "LIFMCRefracAdjointFunction", LIFRefracParameters(),
    """One refractory multi-compartment LIF step, exact adjoint by recomputation:
    ``apply(x, z, v, i, rho, W_in, W_rec, g_coupling, p, dt) -> (z', v', i', rho')``.""",
)


def lif_mc_adjoint_step(
    input: torch.Tensor,
    s: LIFState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    g_coupling: torch.Tensor,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFState]:
    """:func:`~norse_core.functional.lif_mc.lif_mc_step`; backward recomputes it (module
    docstring)."""
    z, v, i = LIFMCAdjointFunction.apply(input, s.z, s.v, s.i, input_weights, recurrent_weights, g_coupling, p, dt)
    return z, LIFState(z, v, i)


def lif_mc_refrac_adjoint(
    input: torch.Tensor,
    s: LIFRefracState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    g_coupling: torch.Tensor,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFRefracState]:
    """:func:`~norse_core.functional.lif_mc.lif_mc_refrac_step`; backward recomputes it
    (module docstring). Norse's name (without ``_step``)."""
    z, v, i, rho = LIFMCRefracAdjointFunction.apply(
        input, s.lif.z, s.lif.v, s.lif.i, s.rho, input_weights, recurrent_weights, g_coupling, p, dt
    )
    return z, LIFRefracState(LIFState(z, v, i), rho)
