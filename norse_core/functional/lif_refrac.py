"""LIF neurons with a refractory period (see :mod:`norse_core.functional.refractory`)."""

from __future__ import annotations

from typing import NamedTuple, Tuple

import torch

from norse_core.functional.lif import (
    LIF_DYNAMICS,
    LIFFeedForwardState,
    LIFParameters,
    LIFState,
    Scalar,
    lif_feed_forward_step,
    lif_step,
    to_dense,
)
from norse_core.functional.refractory import compute_refractory_update, refractory_step  # noqa: F401 (Norse's name here)


class LIFRefracParameters(NamedTuple):
    """LIF parameters plus the refractory period ``rho_reset`` in steps."""

    lif: LIFParameters = LIFParameters()
    rho_reset: Scalar = 5.0


#: The terms of the refractory LIF step (the LIF step, then the refractory mask), from which
#: the fused kernels of LIFRefrac layers are made (:mod:`norse_core.functional.dynamics`);
#: ``.as_recurrent()`` for LIFRefracRecurrent.
LIF_REFRAC_DYNAMICS = LIF_DYNAMICS._replace(name="lif_refrac", refractory=True)


class LIFRefracFeedForwardState(NamedTuple):
    """State of a feed-forward refractory LIF neuron: the LIF state and the countdown ``rho``."""

    lif: LIFFeedForwardState
    rho: torch.Tensor


class LIFRefracState(NamedTuple):
    """State of a recurrent refractory LIF neuron: the LIF state (with ``z``) and ``rho``."""

    lif: LIFState
    rho: torch.Tensor


def lif_refrac_feed_forward_step(
    input_tensor: torch.Tensor,
    state: LIFRefracFeedForwardState,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFRefracFeedForwardState]:
    """One refractory LIF step on input currents of any shape."""
    return refractory_step(lif_feed_forward_step, input_tensor, state, p=p, dt=dt)


def lif_refrac_step(
    input_tensor: torch.Tensor,
    state: LIFRefracState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFRefracState]:
    """One recurrent refractory LIF step (weights ``(hidden, input)``, ``(hidden, hidden)``)."""
    return refractory_step(lif_step, input_tensor, state, input_weights, recurrent_weights, p=p, dt=dt)


def lif_refrac_step_sparse(
    input_tensor: torch.Tensor,
    state: LIFRefracState,
    input_weights: torch.Tensor,
    recurrent_weights: torch.Tensor,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> Tuple[torch.Tensor, LIFRefracState]:
    """:func:`lif_refrac_step` for a sparse input and state spikes; the spikes come back
    sparse (also in the state)."""
    inner = LIFState(*map(to_dense, state.lif))
    z, new = lif_refrac_step(to_dense(input_tensor), LIFRefracState(inner, to_dense(state.rho)),
                             input_weights, recurrent_weights, p, dt)
    z_sparse = z.to_sparse()
    return z_sparse, LIFRefracState(new.lif._replace(z=z_sparse), new.rho)
