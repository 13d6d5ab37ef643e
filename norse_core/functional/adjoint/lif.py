"""Adjoint steps of current-based LIF neurons (Norse's ``functional.adjoint.lif_adjoint``).

The step is :func:`~norse_core.functional.lif.lif_feed_forward_step` (recurrent:
:func:`~norse_core.functional.lif.lif_step`); backward is its exact discrete adjoint
(:mod:`norse_core.functional.adjoint.core`), with ``a = dt*tau_mem_inv``, ``b = dt*tau_syn_inv``
and ``s`` the surrogate derivative of ``p.method``::

    u   = λ_v'(1 - z) + (λ_z + λ_v'(v_reset - v_d)) s(v_d - v_th)    (recurrent: λ_z s)
    λ_v = (1 - a) u;   λ_i = a u + (1 - b) λ_i' = dL/dx

*Deliberate change*: Norse's backward uses EventProp's continuous-time jump conditions,
which are not the gradient of its discrete step; these are (equal to autograd through the
step functions), so gradients differ from Norse's.
"""

from __future__ import annotations

from typing import Tuple

import torch

from norse_core.functional.adjoint.core import adjoint_function, sequence_adjoint, sparse_function
from norse_core.functional.lif import (  # noqa: F401 (Norse's names here)
    LIF_DYNAMICS,
    LIFFeedForwardState,
    LIFParameters,
    LIFState,
    lif_feed_forward_step,
    lif_feed_forward_step_sparse,
    lif_step,
    lif_step_sparse,
)
from norse_core.functional.lif_box import LIF_BOX_DYNAMICS, LIFBoxFeedForwardState, LIFBoxParameters, lif_box_feed_forward_step

LIFAdjointFunction = adjoint_function(
    LIF_DYNAMICS.as_recurrent(), "LIFAdjointFunction", LIFParameters(),
    """One recurrent LIF step with its exact adjoint: ``apply(x, z, v, i, W_in, W_rec, p, dt)
    -> (z', v', i')``.""",
)
LIFFeedForwardAdjointFunction = adjoint_function(
    LIF_DYNAMICS, "LIFFeedForwardAdjointFunction", LIFParameters(),
    """One feed-forward LIF step with its exact adjoint: ``apply(x, v, i, p, dt) -> (z, v', i')``.""",
)
LIFSparseAdjointFunction = sparse_function(
    LIFAdjointFunction, "LIFSparseAdjointFunction", True,
    """:class:`LIFAdjointFunction` for a sparse input and spikes; the spikes come back sparse.""",
)
LIFFeedForwardSparseAdjointFunction = sparse_function(
    LIFFeedForwardAdjointFunction, "LIFFeedForwardSparseAdjointFunction", False,
    """:class:`LIFFeedForwardAdjointFunction` for a sparse input; the spikes come back dense (as
    in Norse).""",
)


def lif_adjoint_step(
    input: torch.Tensor,
    s: LIFState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFState]:
    """:func:`~norse_core.functional.lif.lif_step` with its exact adjoint in backward
    (saves ``v_d``, the spikes, the input, ``z`` and the weights; module docstring)."""
    z, v, i = LIFAdjointFunction.apply(input, s.z, s.v, s.i, input_weights, recurrent_weights, p, dt)
    return z, LIFState(z, v, i)


def lif_adjoint_step_sparse(
    input: torch.Tensor,
    s: LIFState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFState]:
    """:func:`lif_adjoint_step` for a sparse input and state spikes; the spikes come back
    sparse (also in the state)."""
    z, v, i = LIFSparseAdjointFunction.apply(input, s.z, s.v, s.i, input_weights, recurrent_weights, p, dt)
    return z, LIFState(z, v, i)


def lif_feed_forward_adjoint_step(
    input: torch.Tensor,
    s: LIFFeedForwardState,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFFeedForwardState]:
    """:func:`~norse_core.functional.lif.lif_feed_forward_step` with its exact adjoint in
    backward (saves ``v_d`` and the spikes; module docstring)."""
    z, v, i = LIFFeedForwardAdjointFunction.apply(input, s.v, s.i, p, dt)
    return z, LIFFeedForwardState(v, i)


def lif_feed_forward_adjoint_step_sparse(
    input: torch.Tensor,
    s: LIFFeedForwardState,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFFeedForwardState]:
    """:func:`lif_feed_forward_adjoint_step` for a sparse input; the spikes come back dense
    (as in Norse)."""
    z, v, i = LIFFeedForwardSparseAdjointFunction.apply(input, s.v, s.i, p, dt)
    return z, LIFFeedForwardState(v, i)


def lif_feed_forward_adjoint(
    input_sequence: torch.Tensor,
    state: LIFFeedForwardState,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFFeedForwardState]:
    """:func:`lif_feed_forward_adjoint_step` over every step of ``input_sequence`` ``(T, ...)``
    as one autograd node; returns the spikes ``(T, ...)`` and the final state.

    Memory constant in ``T``: on CPU the fused C++ loop saves only the input and the initial
    state, and its backward re-runs the forward per block of neurons in a cache-sized scratch
    (same gradients, exact). Without a compiler (or on other devices, or for a surrogate the
    C++ loop lacks, e.g. ``logistic``), the portable fused kernel runs: it saves ``v_d`` and
    the spikes of every step (two tensors like the input; on CUDA the Triton kernel saves the
    same). Where no fused kernel applies (a trainable ``alpha``, tensor parameters of another
    dtype), the adjoint steps run in a loop.
    """
    return sequence_adjoint(LIF_DYNAMICS, lif_feed_forward_adjoint_step, input_sequence, state, p, dt)


def lif_box_feed_forward_adjoint(
    input_sequence: torch.Tensor,
    state: LIFBoxFeedForwardState,
    p: LIFBoxParameters = LIFBoxParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFBoxFeedForwardState]:
    """:func:`~norse_core.functional.lif_box.lif_box_feed_forward_step` over ``input_sequence``
    ``(T, ...)`` with the exact adjoint and memory constant in ``T``, as
    :func:`lif_feed_forward_adjoint` (the portable kernel saves ``v_d`` and the spikes; a
    ``reset_method`` function runs the step loop under autograd)."""
    return sequence_adjoint(LIF_BOX_DYNAMICS, lif_box_feed_forward_step, input_sequence, state, p, dt)
