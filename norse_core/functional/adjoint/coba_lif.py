"""Adjoint step of conductance-based LIF neurons (Norse's ``functional.adjoint.coba_lif_adjoint``,
which does not import in Norse 1.1.0).

The step is :func:`~norse_core.functional.coba_lif.coba_lif_step`. Its conductance inputs
(``relu`` of the signed input) are not terms of the generic hand adjoint, so backward
*recomputes*: it re-runs our step under autograd from the saved inputs (input, state,
weights) and returns its gradients, exactly those of the step
(:func:`~norse_core.functional.adjoint.core.recompute_function`).

*Deliberate change*: exact gradients of our discrete step, not Norse's EventProp jumps.
"""

from __future__ import annotations

from typing import Tuple

import torch

from norse_core.functional.adjoint.core import recompute_function
from norse_core.functional.coba_lif import CobaLIFParameters, CobaLIFState, coba_lif_step


def _coba_lif(x, z, v, g_e, g_i, w_in, w_rec, p, dt):
    z, s = coba_lif_step(x, CobaLIFState(z, v, g_e, g_i), w_in, w_rec, p, dt)
    return z, s.v, s.g_e, s.g_i


CobaLIFAdjointFunction = recompute_function(
    _coba_lif, 7, "CobaLIFAdjointFunction", CobaLIFParameters(),
    """One recurrent CobaLIF step, exact adjoint by recomputation:
    ``apply(x, z, v, g_e, g_i, W_in, W_rec, p, dt) -> (z', v', g_e', g_i')``.""",
)


def coba_lif_adjoint_step(
    input: torch.Tensor,
    s: CobaLIFState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: CobaLIFParameters = CobaLIFParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, CobaLIFState]:
    """:func:`~norse_core.functional.coba_lif.coba_lif_step`; backward recomputes it (module
    docstring)."""
    z, v, g_e, g_i = CobaLIFAdjointFunction.apply(input, s.z, s.v, s.g_e, s.g_i, input_weights, recurrent_weights, p, dt)
    return z, CobaLIFState(z, v, g_e, g_i)
