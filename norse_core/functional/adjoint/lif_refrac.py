"""Adjoint steps of LIF neurons with a refractory period (Norse's
``functional.adjoint.lif_refrac_adjoint``).

The step is :func:`~norse_core.functional.lif_refrac.lif_refrac_feed_forward_step`
(recurrent: :func:`~norse_core.functional.lif_refrac.lif_refrac_step`); backward is its exact
discrete adjoint (:mod:`norse_core.functional.adjoint.core`): the LIF recursion of
:mod:`norse_core.functional.adjoint.lif` under the mask ``m = Θ(rho)``, which carries no
gradient::

    λ_z  = (1 - m)(g_z + λ_rho'(rho_reset - relu(rho - m)))
    λ_rho = λ_rho'(1 - z') 1[rho - m > 0];   λ_v = (1 - m) λ_v^LIF + m λ_v'

*Deliberate change*: exact gradients of our discrete step, not Norse's EventProp jumps.
"""

from __future__ import annotations

from typing import Tuple

import torch

from norse_core.functional.adjoint.core import adjoint_function, sequence_adjoint, sparse_function
from norse_core.functional.lif import LIFFeedForwardState, LIFState
from norse_core.functional.lif_refrac import (  # noqa: F401 (Norse's names here)
    LIF_REFRAC_DYNAMICS,
    LIFRefracFeedForwardState,
    LIFRefracParameters,
    LIFRefracState,
    lif_refrac_feed_forward_step,
    lif_refrac_step,
    lif_refrac_step_sparse,
)
from norse_core.functional.threshold import heaviside  # noqa: F401 (Norse's name here)

LIFAdjointRefracFunction = adjoint_function(
    LIF_REFRAC_DYNAMICS.as_recurrent(), "LIFAdjointRefracFunction", LIFRefracParameters(),
    """One recurrent refractory LIF step with its exact adjoint:
    ``apply(x, z, v, i, rho, W_in, W_rec, p, dt) -> (z', v', i', rho')``.""",
)
LIFAdjointRefracFeedForwardFunction = adjoint_function(
    LIF_REFRAC_DYNAMICS, "LIFAdjointRefracFeedForwardFunction", LIFRefracParameters(),
    """One feed-forward refractory LIF step with its exact adjoint:
    ``apply(x, v, i, rho, p, dt) -> (z, v', i', rho')``.""",
)
_LIFSparseAdjointRefrac = sparse_function(LIFAdjointRefracFunction, "_LIFSparseAdjointRefrac", True, "")


class LIFSparseAdjointRefracFunction(_LIFSparseAdjointRefrac):
    """:class:`LIFAdjointRefracFunction` for a sparse input and spikes, called as in Norse:
    ``apply(x, lif_state, rho, W_in, W_rec, p, dt) -> (z', v', i', rho')`` (spikes sparse;
    gradients reach the tensors of ``lif_state`` too)."""

    @classmethod
    def apply(cls, input, lif_state, rho, input_weights, recurrent_weights, p=LIFRefracParameters(), dt=0.001):  # type: ignore[override]
        return super().apply(input, *lif_state, rho, input_weights, recurrent_weights, p, dt)


def lif_refrac_adjoint_step(
    input: torch.Tensor,
    s: LIFRefracState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFRefracState]:
    """:func:`~norse_core.functional.lif_refrac.lif_refrac_step` with its exact adjoint in
    backward (module docstring)."""
    z, v, i, rho = LIFAdjointRefracFunction.apply(
        input, s.lif.z, s.lif.v, s.lif.i, s.rho, input_weights, recurrent_weights, p, dt
    )
    return z, LIFRefracState(LIFState(z, v, i), rho)


def lif_refrac_adjoint_step_sparse(
    input: torch.Tensor,
    s: LIFRefracState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFRefracState]:
    """:func:`lif_refrac_adjoint_step` for a sparse input and state spikes; the spikes come
    back sparse (also in the state)."""
    z, v, i, rho = LIFSparseAdjointRefracFunction.apply(input, s.lif, s.rho, input_weights, recurrent_weights, p, dt)
    return z, LIFRefracState(LIFState(z, v, i), rho)


def lif_refrac_feed_forward_adjoint_step(
    input: torch.Tensor,
    s: LIFRefracFeedForwardState,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFRefracFeedForwardState]:
    """:func:`~norse_core.functional.lif_refrac.lif_refrac_feed_forward_step` with its exact
    adjoint in backward (module docstring)."""
    z, v, i, rho = LIFAdjointRefracFeedForwardFunction.apply(input, s.lif.v, s.lif.i, s.rho, p, dt)
    return z, LIFRefracFeedForwardState(LIFFeedForwardState(v, i), rho)


def lif_refrac_feed_forward_adjoint(
    input_sequence: torch.Tensor,
    state: LIFRefracFeedForwardState,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFRefracFeedForwardState]:
    """:func:`lif_refrac_feed_forward_adjoint_step` over ``input_sequence`` ``(T, ...)`` as one
    autograd node, memory constant in ``T`` on CPU (as
    :func:`~norse_core.functional.adjoint.lif.lif_feed_forward_adjoint`; the portable kernel
    saves ``v_d``, the countdown and the spikes before and after the mask of every step)."""
    return sequence_adjoint(LIF_REFRAC_DYNAMICS, lif_refrac_feed_forward_adjoint_step, input_sequence, state, p, dt)
