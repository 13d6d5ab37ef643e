"""Adjoint steps of LSNN neurons (adaptive threshold; Norse's ``functional.adjoint.lsnn_adjoint``).

The step is :func:`~norse_core.functional.lsnn.lsnn_feed_forward_step` (recurrent:
:func:`~norse_core.functional.lsnn.lsnn_step`); backward is its exact discrete adjoint
(:mod:`norse_core.functional.adjoint.core`), with ``c = dt*tau_adapt_inv`` and
``s = s(v_d - b_d)``::

    λ_z = g_z + λ_v'(v_reset - v_d) + beta λ_b'      (recurrent: without the reset term)
    u   = λ_v'(1 - z) + λ_z s;   λ_b = (1 - c)(λ_b' - λ_z s)
    λ_v = (1 - a) u;   λ_i = a u + (1 - b) λ_i' = dL/dx

*Deliberate change*: exact gradients of our discrete step, not Norse's EventProp jumps.
"""

from __future__ import annotations

from typing import Tuple

import torch

from norse_core.functional.adjoint.core import adjoint_function, sequence_adjoint
from norse_core.functional.lsnn import (  # noqa: F401 (Norse's names here)
    LSNN_DYNAMICS,
    LSNNFeedForwardState,
    LSNNParameters,
    LSNNState,
    lsnn_feed_forward_step,
    lsnn_step,
)

LSNNAdjointFunction = adjoint_function(
    LSNN_DYNAMICS.as_recurrent(), "LSNNAdjointFunction", LSNNParameters(),
    """One recurrent LSNN step with its exact adjoint:
    ``apply(x, z, v, i, b, W_in, W_rec, p, dt) -> (z', v', i', b')``.""",
)
LSNNFeedForwardAdjointFunction = adjoint_function(
    LSNN_DYNAMICS, "LSNNFeedForwardAdjointFunction", LSNNParameters(),
    """One feed-forward LSNN step with its exact adjoint: ``apply(x, v, i, b, p, dt) -> (z, v', i', b')``.""",
)


def lsnn_adjoint_step(
    input: torch.Tensor,
    s: LSNNState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LSNNParameters = LSNNParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LSNNState]:
    """:func:`~norse_core.functional.lsnn.lsnn_step` with its exact adjoint in backward
    (module docstring)."""
    z, v, i, b = LSNNAdjointFunction.apply(input, s.z, s.v, s.i, s.b, input_weights, recurrent_weights, p, dt)
    return z, LSNNState(z, v, i, b)


def lsnn_feed_forward_adjoint_step(
    input: torch.Tensor,
    s: LSNNFeedForwardState,
    p: LSNNParameters = LSNNParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LSNNFeedForwardState]:
    """:func:`~norse_core.functional.lsnn.lsnn_feed_forward_step` with its exact adjoint in
    backward (module docstring)."""
    z, v, i, b = LSNNFeedForwardAdjointFunction.apply(input, s.v, s.i, s.b, p, dt)
    return z, LSNNFeedForwardState(v, i, b)


def lsnn_feed_forward_adjoint(
    input_sequence: torch.Tensor,
    state: LSNNFeedForwardState,
    p: LSNNParameters = LSNNParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LSNNFeedForwardState]:
    """:func:`lsnn_feed_forward_adjoint_step` over ``input_sequence`` ``(T, ...)`` as one
    autograd node, memory constant in ``T`` on CPU (as
    :func:`~norse_core.functional.adjoint.lif.lif_feed_forward_adjoint`; the portable kernel
    saves ``v_d - b_d`` and the spikes of every step)."""
    return sequence_adjoint(LSNN_DYNAMICS, lsnn_feed_forward_adjoint_step, input_sequence, state, p, dt)
